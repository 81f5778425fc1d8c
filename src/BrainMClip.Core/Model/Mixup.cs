using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>
/// MindEye's BiMixCo draw for one batch: a permutation, per-sample mixing weights β ~ Beta(a, a) and the samples
/// that are mixed (each with probability <c>p</c>; β = 1 for the others). Inputs become β·x + (1 − β)·x[perm], and the
/// contrastive target of sample i is β_i on its own target plus 1 − β_i on its partner's (<see cref="Losses.MixCo"/>).
/// </summary>
public sealed class MixupBatch : IDisposable
{
    public Tensor Perm { get; }
    /// <summary>(B) float32; 1 where a sample is not mixed.</summary>
    public Tensor Betas { get; }

    MixupBatch(Tensor perm, Tensor betas) { Perm = perm; Betas = betas; }

    /// <summary>Draws from <paramref name="generator"/> only, so a seeded run is reproducible and resumable.</summary>
    public static MixupBatch Draw(long batch, Generator generator, double a = 0.15, double p = 0.5)
    {
        using var scope = NewDisposeScope();
        var perm = randperm(batch, generator: generator);
        var beta = SampleBeta(batch, a, generator);
        var select = rand(batch, generator: generator).le(p);
        var betas = where(select, beta, ones_like(beta));
        return new MixupBatch(perm.MoveToOuterDisposeScope(), betas.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Beta(a, a) by Jöhnk's method (exact for a &lt; 1): X = U^(1/a), Y = V^(1/a), accept when X + Y ≤ 1 and return
    /// X / (X + Y), in log space. 16 candidates per sample; a row with none accepted (probability below 1e-12 at
    /// a = 0.15) takes 0.5.
    /// </summary>
    static Tensor SampleBeta(long n, double a, Generator generator)
    {
        const int candidates = 16;
        var logX = rand(n, candidates, generator: generator).clamp_min(1e-30).log() / a;
        var logY = rand(n, candidates, generator: generator).clamp_min(1e-30).log() / a;
        var logSum = logaddexp(logX, logY);
        var accepted = logSum.le(0);
        var value = (logX - logSum).exp();
        // The first accepted candidate of each row: argmax over a 0/1 mask returns the first maximum.
        var first = accepted.to_type(ScalarType.Int32).argmax(1, keepdim: true);
        var chosen = value.gather(1, first).squeeze(1);
        return where(accepted.any(1), chosen, full_like(chosen, 0.5)).to_type(ScalarType.Float32);
    }

    /// <summary>β·x + (1 − β)·x[perm] over the first dimension (B, ...).</summary>
    public Tensor Mix(Tensor x)
    {
        using var scope = NewDisposeScope();
        var shape = new long[x.dim()];
        shape[0] = -1;
        for (int i = 1; i < shape.Length; i++) shape[i] = 1;
        var b = Betas.to_type(x.dtype).reshape(shape);
        return (b * x + (1 - b) * x.index_select(0, Perm)).MoveToOuterDisposeScope();
    }

    /// <summary>The soft target matrix: row i has β_i at i and 1 − β_i at perm[i] (B, B).</summary>
    public Tensor Targets()
    {
        using var scope = NewDisposeScope();
        long n = Betas.shape[0];
        var probs = diag(Betas);
        var rows = arange(n);
        probs.index_put_(1 - Betas, rows, Perm);
        // A sample whose partner is itself gets β + (1 − β) = 1 on the diagonal.
        probs = where(Perm.eq(rows).unsqueeze(1).logical_and(eye(n).to_type(ScalarType.Bool)), ones_like(probs), probs);
        return probs.MoveToOuterDisposeScope();
    }

    public void Dispose() { Perm.Dispose(); Betas.Dispose(); }
}
