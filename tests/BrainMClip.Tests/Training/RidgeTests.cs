using BrainMClip.Model;
using BrainMClip.Training;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Training;

public class RidgeTests
{
    [Theory]
    [InlineData(60, 8)]    // primal (voxels < samples)
    [InlineData(30, 50)]   // dual (voxels > samples)
    public void MatchesTheNormalEquationsAndPicksASmallAlphaForCleanData(int n, int v)
    {
        using var g = new Generator(11);
        var x = randn(n, v, generator: g, dtype: ScalarType.Float64);
        var w = randn(v, 6, generator: g, dtype: ScalarType.Float64);
        var y = x.mm(w) + 3 + 0.01 * randn(n, 6, generator: g, dtype: ScalarType.Float64);
        var map = Ridge.Fit(x.to_type(ScalarType.Float32), y.to_type(ScalarType.Float32), [1e-3, 1, 1e4], 3, 0);
        if (v < n) Assert.Equal(1e-3, map.Alpha);   // well-posed clean data: smallest alpha wins

        // Reference: centred normal equations (XcᵀXc + αI) W = Xcᵀ Yc in float64.
        var xm = x.mean([0], keepdim: true); var ym = y.mean([0], keepdim: true);
        var xc = x - xm; var yc = y - ym;
        var wRef = linalg.solve(xc.t().mm(xc) + eye(v, dtype: ScalarType.Float64) * map.Alpha, xc.t().mm(yc));
        var bRef = (ym - xm.mm(wRef)).squeeze(0);
        Assert.True(map.Weight.to_type(ScalarType.Float64).allclose(wRef, rtol: 1e-4, atol: 1e-4));
        Assert.True(map.Bias.to_type(ScalarType.Float64).allclose(bRef, rtol: 1e-4, atol: 1e-3));
    }

    [Fact]
    public void NoisyDataPrefersMoreShrinkage()
    {
        using var g = new Generator(2);
        var x = randn(40, 60, generator: g);
        var y = 0.05f * x.narrow(1, 0, 4) + randn(40, 4, generator: g);   // mostly noise
        var map = Ridge.Fit(x, y, [1e-4, 1e4], 4, 0);
        Assert.Equal(1e4, map.Alpha);
        Assert.Equal(2, map.CvScores.Count);
    }
}

public class RidgeValidationAlphaTests
{
    [Theory]
    [InlineData(80, 10)]   // primal
    [InlineData(40, 60)]   // dual
    public void ScoresEachAlphaByItsHeldOutPredictionAndRefitsOnAllRows(int n, int v)
    {
        using var g = new Generator(7);
        var x = randn(n, v, generator: g, dtype: ScalarType.Float64);
        var y = x.mm(randn(v, 5, generator: g, dtype: ScalarType.Float64)) + randn(n, 5, generator: g,
            dtype: ScalarType.Float64);
        var perm = randperm(n, generator: g);
        var tr = perm.narrow(0, n / 4, n - n / 4).sort().Values; var va = perm.narrow(0, 0, n / 4).sort().Values;
        double[] alphas = [0.1, 10, 1000];
        // Score = minus the held-out MSE, so the reference is plain float64 algebra.
        var map = Ridge.FitByValidation(x.to_type(ScalarType.Float32), y.to_type(ScalarType.Float32), alphas, tr, va,
            (p, t) => -(p.to_type(ScalarType.Float64) - t.to_type(ScalarType.Float64)).pow(2).mean().item<double>());
        foreach (double a in alphas)
        {
            var (w, b) = Reference(x.index_select(0, tr), y.index_select(0, tr), a);
            double expected = -(x.index_select(0, va).mm(w) + b - y.index_select(0, va)).pow(2).mean().item<double>();
            Assert.Equal(expected, map.CvScores[a], 4);   // predictions pass through float32
        }
        Assert.Equal(map.CvScores.MaxBy(kv => kv.Value).Key, map.Alpha);
        var (wAll, bAll) = Reference(x, y, map.Alpha);
        Assert.True(map.Weight.to_type(ScalarType.Float64).allclose(wAll, rtol: 1e-4, atol: 1e-4));
        Assert.True(map.Bias.to_type(ScalarType.Float64).allclose(bAll, rtol: 1e-4, atol: 1e-4));
    }

    /// <summary>Centred normal equations (XcᵀXc + αI) W = Xcᵀ Yc in float64.</summary>
    static (Tensor w, Tensor b) Reference(Tensor x, Tensor y, double alpha)
    {
        var xm = x.mean([0], keepdim: true); var ym = y.mean([0], keepdim: true);
        var xc = x - xm;
        var w = linalg.solve(xc.t().mm(xc) + eye(x.shape[1], dtype: ScalarType.Float64) * alpha, xc.t().mm(y - ym));
        return (w, (ym - xm.mm(w)).squeeze(0));
    }
}
