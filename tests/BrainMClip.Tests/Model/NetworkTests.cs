using BrainMClip.Model;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

public class NetworkTests
{
    static BrainMClipConfig With(Func<AblationSection, AblationSection> f)
    {
        var c = ModelTestData.Tiny();
        return c with { Ablation = f(c.Ablation) };
    }

    public static TheoryData<string> Variants =>
        new()
        { "full", "no_cross", "no_rec", "semantic_only", "detail_only", "global_only", "full_heads",
        "no_rec_no_cross" };

    static BrainMClipConfig Variant(string v) => v switch
    {
        "full" => ModelTestData.Tiny(),
        "no_cross" => With(a => a with { NoCross = true }),
        "no_rec" => With(a => a with { NoRec = true }),
        "semantic_only" => With(a => a with { SemanticOnly = true }),
        "detail_only" => With(a => a with { DetailOnly = true }),
        "global_only" => With(a => a with { GlobalOnly = true }),
        "full_heads" => With(a => a with { FullHeads = true }),
        "no_rec_no_cross" => With(a => a with { NoRec = true, NoCross = true }),
        _ => throw new ArgumentException(v),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void ShapesGradientsAndParameterCounts(string variant)
    {
        var cfg = Variant(variant);
        manual_seed(1);
        using var net = new BrainMClipNet(cfg, 12, 7);
        var fD = randn(5, 12); var fS = randn(5, 7);
        var eD = randn(5, 17, 64); var eS = randn(5, 17, 32);
        var o = net.Forward(fD, fS);
        if (cfg.UsesDetail) Assert.Equal(new long[] { 5, 17, 64 }, o.Detail!.shape); else Assert.Null(o.Detail);
        if (cfg.UsesSemantic) Assert.Equal(new long[] { 5, 17, 32 }, o.Semantic!.shape); else Assert.Null(o.Semantic);
        if (cfg.UsesDetail) Assert.Equal(new long[] { 5, 32 }, o.LatentDetail!.shape);

        var l = Losses.Compute(net, o, fD, fS, eD, eS);
        (l.Fusion is null ? l.Total : l.Total + l.Fusion).backward();
        foreach (var (name, p) in net.named_parameters())
        {
            Assert.True(p.grad is not null, $"{variant}: no gradient reached {name}");
            Assert.True(p.grad!.abs().sum().item<float>() > 0, $"{variant}: zero gradient at {name}");
        }

        // Analytic counts mirror the modules exactly.
        var analytic = ParameterCounts.Compute(cfg, 12, 7).ToDictionary(m => m.Name, m => m.Parameters);
        var actual = net.ParameterCountsByModule();
        Assert.Equal(analytic.OrderBy(k => k.Key), actual.OrderBy(k => k.Key));
    }

    [Fact]
    public void FusionGradientNeverReachesEncoders()
    {
        var cfg = ModelTestData.Tiny();
        using var net = new BrainMClipNet(cfg, 12, 7);
        var o = net.Forward(randn(5, 12), randn(5, 7));
        var l = Losses.Compute(net, o, randn(5, 12), randn(5, 7), randn(5, 17, 64), randn(5, 17, 32));
        l.Fusion!.backward();
        foreach (var (name, p) in net.named_parameters())
            Assert.Equal(name.StartsWith("fusion.", StringComparison.Ordinal), p.grad is not null
                && p.grad.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void PaperPresetIsBelowTheClaimedFractionOfMindEye1()
    {
        var cfg = BrainMClipConfig.Preset("paper");
        long total = ParameterCounts.Compute(cfg, 15724, 4500).Sum(m => m.Parameters);
        Assert.True(total < 0.283 * ParameterCounts.MindEye1, $"{total} >= 28.3% of MindEye1");
        // Hand count of the detail encoder: input 15724·2048+2048+2·2048, 4 blocks of 2048²+3·2048,
        // low-rank head 2048·257·64 + 257·64 + 64·1024 + 257·1024.
        long enc = 15724L * 2048 + 2048 + 4096 + 4 * (2048L * 2048 + 3 * 2048) + 2048L * 257 * 64 + 257 * 64 + 64 * 1024
            + 257 * 1024;
        Assert.Equal(enc, ParameterCounts.Compute(cfg, 15724, 4500).Single(m => m.Name == "encoder_detail").Parameters);
    }

    [Fact]
    public void DropoutDetailReachesTheDetailEncoderOnly()
    {
        var c = ModelTestData.Tiny();
        c = c with { Model = c.Model with { DropoutInput = 0.9, DropoutBlocks = 0.9, DropoutDetail = 0.0 } };
        manual_seed(5);
        using var net = new BrainMClipNet(c, 10, 6);
        net.train();
        net.DropoutGenerator = new Generator(1);
        var fD = randn(4, 10); var fS = randn(4, 6);
        var a = net.Forward(fD, fS);
        var b = net.Forward(fD, fS);
        // No dropout in the detail encoder: the same latent twice; the semantic encoder still drops 90 %.
        Assert.Equal(0f, (a.LatentDetail! - b.LatentDetail!).abs().max().item<float>());
        Assert.True((a.LatentSemantic! - b.LatentSemantic!).abs().max().item<float>() > 0.1f);
    }
}
