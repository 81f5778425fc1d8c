using BrainMClip.Model;
using BrainMClip.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

/// <summary>The pieces the study and the recipe rely on: paired bootstrap, BiMixCo draws, feature views, per-sample
/// hits.</summary>
public class StudyPiecesTests
{
    [Fact]
    public void PairedBootstrapCentresOnTheMeanDifferenceAndSeesAConstantShift()
    {
        var rng = new Random(1);
        var b = Enumerable.Range(0, 300).Select(_ => rng.NextDouble()).ToArray();
        var a = b.Select(x => x + 0.1).ToArray();
        var d = StudyStatistics.PairedBootstrap(a, b, resamples: 500, seed: 3);
        Assert.Equal(0.1, d.Mean, 9);
        Assert.Equal(0.1, d.Low, 9);                      // every resample of a constant difference is that constant
        Assert.Equal(0.1, d.High, 9);
        // Independent noise differences: the interval contains the mean and has roughly ±1.96·sd/√n width.
        var c = Enumerable.Range(0, 400).Select(_ => rng.NextDouble() < 0.5 ? 1.0 : 0.0).ToArray();
        var z = Enumerable.Repeat(0.0, 400).ToArray();
        var e = StudyStatistics.PairedBootstrap(c, z, resamples: 2000, seed: 5);
        Assert.InRange(e.Mean, e.Low, e.High);
        Assert.InRange(e.High - e.Low, 0.08, 0.12);      // 2·1.96·0.5/√400 = 0.098
        Assert.True(e.ExcludesZero);
        Assert.Equal(2.5, StudyStatistics.Quantile([1, 2, 3, 4], 0.5), 12);
    }

    [Fact]
    public void MixupDrawIsSeededAndItsTargetsAreADistributionPerRow()
    {
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var m1 = MixupBatch.Draw(64, g1);
        using var m2 = MixupBatch.Draw(64, g2);
        Assert.True(m1.Perm.eq(m2.Perm).all().item<bool>());
        Assert.True(m1.Betas.eq(m2.Betas).all().item<bool>());
        var betas = m1.Betas.data<float>().ToArray();
        Assert.All(betas, x => Assert.InRange(x, 0f, 1f));
        int mixed = betas.Count(x => x < 1f);
        Assert.InRange(mixed, 16, 48);                     // each sample mixed with probability 0.5
        // Beta(0.15, 0.15) is U-shaped: most mixed weights are near 0 or 1.
        Assert.True(betas.Where(x => x < 1f).Count(x => x < 0.1f || x > 0.9f) >= mixed / 2);
        using var t = m1.Targets();
        Assert.True(t.sum(1).allclose(ones(64), atol: 1e-6));
        using var x = arange(64, dtype: ScalarType.Float32).unsqueeze(1);
        using var mixedX = m1.Mix(x);
        var perm = m1.Perm.data<long>().ToArray();
        var mx = mixedX.data<float>().ToArray();
        for (int i = 0; i < 64; i++) Assert.Equal(betas[i] * i + (1 - betas[i]) * perm[i], mx[i], 3);
    }

    [Fact]
    public void FeatureStoreViewsSelectRowsAndCanReadDetailFromTheFinalLayer()
    {
        using var detail = arange(5 * 2 * 3, dtype: ScalarType.Float32).reshape(5, 2, 3);
        using var semantic = -arange(5 * 2 * 4, dtype: ScalarType.Float32).reshape(5, 2, 4);
        using var store = new FeatureStore(detail, semantic);
        using var rows = tensor(new long[] { 4, 1 });
        using var view = store.Select(rows);
        Assert.Equal(2, view.Rows);
        Assert.True(view.AllDetail().eq(detail.index_select(0, rows)).all().item<bool>());
        using var final = view.DetailFromSemantic();
        Assert.Equal(4, final.DetailWidth);
        Assert.True(final.AllDetail().eq(semantic.index_select(0, rows)).all().item<bool>());
        Assert.True(store.AllDetail().eq(detail).all().item<bool>());   // the parent is untouched by its views
    }

    [Fact]
    public void PerSampleRetrievalAveragesToTheSingleLoopResult()
    {
        using var g = new Generator(3);
        using var truth = randn(40, 8, generator: g);
        using var pred = truth + 1.5 * randn(40, 8, generator: g);
        var r = Retrieval.Compute(pred, truth, loops: 1, batch: 300);
        var p = Retrieval.PerSample(pred, truth, loops: 1, batch: 300);
        Assert.Equal(r.ImageToBrainTop1, p.ImageToBrain.Average(), 12);
        Assert.Equal(r.BrainToImageTop1, p.BrainToImage.Average(), 12);
        Assert.InRange(r.BrainToImageTop1, 0.05, 0.95);
    }

    [Fact]
    public void TokenOnlyAndGlobalOnlyAreExclusiveAndTokenOnlyDropsTheGlobalTerm()
    {
        var ex = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(
            """{"base": "tiny", "ablation": {"global_only": true, "token_only": true}}""", "cfg"));
        Assert.Contains("ablation.token_only", ex.Message);
        var bad = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(
            """{"base": "tiny", "training": {"keep_linear_unless_better": true}}""", "cfg"));
        Assert.Contains("training.keep_linear_unless_better", bad.Message);
        var cfg = ModelTestData.Tiny() with { Ablation = new AblationSection { TokenOnly = true } };
        using var net = new BrainMClipNet(cfg, 12, 7);
        using var g = new Generator(1);
        net.Initialize(g);
        using var fD = randn(6, 12, generator: g);
        using var fS = randn(6, 7, generator: g);
        using var eD = randn(6, 17, 64, generator: g);
        using var eS = randn(6, 17, 32, generator: g);
        var o = net.Forward(fD, fS);
        var terms = Losses.Compute(net, o, fD, fS, eD, eS).Terms.Keys.ToHashSet();
        Assert.DoesNotContain("semantic.global", terms);
        Assert.Contains("semantic.token", terms);
        Assert.Contains("semantic.mse", terms);
    }
}
