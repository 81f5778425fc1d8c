using BrainMClip.Generation.Training;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary><c>generator train --context-noise</c>: the conditioning augmentation against a float64
/// reference.</summary>
public class ContextNoiseTests
{
    /// <summary>A training context of 40 samples, 3 tokens, streams of 2 and 3 channels with distinct means and
    /// spreads.</summary>
    static Tensor Context() =>
        randn([40, 3, 5], generator: new Generator(3)) * tensor(new float[] { 1, 2, 0.5f, 3, 0.1f })
        + tensor(new float[] { 5, -1, 0, 2, 7 });

    [Fact]
    public void EachCorruptedStreamIsMeanPlusRhoTimesDeviationPlusScaledNoise()
    {
        using var ctx = Context();
        using var noise = new ContextNoise(ctx, [2, 3], probability: 0.5);
        using var batch = ctx.narrow(0, 0, 8);
        using var got = noise.Apply(batch, new Generator(11));

        // Reference: the same draws in the same order (corrupt?, ρ per stream, ε), the formula in float64.
        var g = new Generator(11);
        var corrupt = rand([8, 1, 1], generator: g).data<float>().ToArray();
        var rho = rand([8, 1, 2], generator: g).data<float>().ToArray();
        var eps = randn([8, 3, 5], generator: g).data<float>().ToArray();
        var c = ctx.to_type(ScalarType.Float64);
        var mean = c.mean([0]).data<double>().ToArray();
        var std = c.std(0, unbiased: false).data<double>().ToArray();
        var x = batch.to_type(ScalarType.Float64).data<double>().ToArray();
        var y = got.to_type(ScalarType.Float64).data<double>().ToArray();
        int corrupted = 0;
        for (int b = 0; b < 8; b++)
        {
            bool isCorrupt = corrupt[b] < 0.5;
            if (isCorrupt) corrupted++;
            for (int t = 0; t < 3; t++)
                for (int k = 0; k < 5; k++)
                {
                    int i = (b * 3 + t) * 5 + k, e = t * 5 + k;
                    double r = isCorrupt ? rho[b * 2 + (k < 2 ? 0 : 1)] : 1.0;
                    double want = mean[e] + r * (x[i] - mean[e]) + Math.Sqrt(1 - r * r) * std[e] * eps[i];
                    Assert.True(Math.Abs(y[i] - want) < 1e-4 * (1 + Math.Abs(want)),
                        $"sample {b} token {t} channel {k}: {y[i]} vs {want}");
                }
        }
        Assert.InRange(corrupted, 1, 7); // both branches exercised by this seed
    }

    [Fact]
    public void AlwaysCorruptedContextKeepsTheMarginalStatisticsAndLosesCorrelation()
    {
        using var ctx = randn([20000, 1, 2], generator: new Generator(4)) * 3 + 2;
        using var noise = new ContextNoise(ctx, [1, 1], probability: 1);
        using var y = noise.Apply(ctx, new Generator(5));
        // E[c'] = μ, Var[c'] = σ² (ρ² + 1 − ρ²); corr(c, c') = E[ρ] = 1/2 for ρ ~ U(0, 1).
        Assert.Equal(2.0, y.mean().item<float>(), 1);
        Assert.Equal(3.0, y.std().item<float>(), 1);
        using var a = ctx.flatten() - ctx.mean();
        using var b = y.flatten() - y.mean();
        double corr = ((a * b).sum() / (a.norm() * b.norm())).item<float>();
        Assert.InRange(corr, 0.47, 0.53);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void AProbabilityOutsideZeroToOneIsAUserError(double p)
    {
        using var ctx = Context();
        var e = Assert.Throws<UserInputException>(() => new ContextNoise(ctx, [2, 3], p));
        Assert.Equal("ContextNoise", e.Field); // the CLI names it --context-noise
        Assert.Contains("context-noise probability must be in [0, 1]", e.Message);
    }
}
