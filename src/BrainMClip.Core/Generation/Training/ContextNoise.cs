using static TorchSharp.torch;

namespace BrainMClip.Generation.Training;

/// <summary>
/// Conditioning augmentation (ours; in the spirit of cascaded diffusion's Gaussian conditioning augmentation and
/// unCLIP's noised image embeddings): with probability <see cref="Probability"/> a training sample's context is
/// replaced, stream by stream, by c' = μ + ρ·(c − μ) + √(1 − ρ²)·σ·ε with ρ ~ U(0, 1) drawn per sample and stream,
/// μ and σ the per-element mean and standard deviation over the training set. c' has the marginal statistics of c
/// and correlation ρ with it — what a brain prediction re-standardised to the training features
/// (<c>reconstruct --restandardize</c>) looks like — so the generator learns to render from imprecise features and
/// to lean on whichever stream is the more reliable, instead of trusting every token as exactly as the true ones.
/// </summary>
public sealed class ContextNoise : IDisposable
{
    readonly Tensor _mean, _std, _streamOfChannel;
    readonly int _streams;

    public double Probability { get; }

    /// <param name="context">The training context (N, T, ΣC).</param>
    /// <param name="widths">Channels of each stream in <paramref name="context"/>, in order.</param>
    public ContextNoise(Tensor context, IReadOnlyList<int> widths, double probability)
    {
        if (probability is < 0 or > 1 || double.IsNaN(probability))
            throw UserInputException.Invalid("ContextNoise",
                $"context-noise probability must be in [0, 1] (got {probability})");
        if (widths.Sum() != context.shape[2])
            throw new ArgumentException(
                $"stream widths sum to {widths.Sum()}, context has {context.shape[2]} channels");
        Probability = probability;
        _streams = widths.Count;
        using var scope = NewDisposeScope();
        _mean = context.mean([0], keepdim: true).MoveToOuterDisposeScope();
        _std = context.std(0, unbiased: false, keepdim: true).MoveToOuterDisposeScope();
        _streamOfChannel = tensor(widths.SelectMany((w, s) => Enumerable.Repeat((long)s, w)).ToArray())
            .MoveToOuterDisposeScope();
    }

    /// <summary>The augmented batch context (B, T, ΣC); draws from <paramref name="gen"/> in a fixed order.</summary>
    public Tensor Apply(Tensor ctx, Generator gen)
    {
        using var scope = NewDisposeScope();
        long b = ctx.shape[0];
        var corrupt = (rand([b, 1, 1], generator: gen) < Probability).to_type(ctx.dtype);
        var rho = rand([b, 1, _streams], generator: gen).to_type(ctx.dtype).index_select(2, _streamOfChannel);
        rho = 1 - corrupt * (1 - rho);
        var eps = randn(ctx.shape, generator: gen).to_type(ctx.dtype);
        var noisy = _mean + rho * (ctx - _mean) + (1 - rho * rho).clamp_min(0).sqrt() * _std * eps;
        return noisy.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _mean.Dispose();
        _std.Dispose();
        _streamOfChannel.Dispose();
    }
}
