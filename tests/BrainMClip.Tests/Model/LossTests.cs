using System.Text.Json.Nodes;
using BrainMClip.Model;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

public class LossTests
{
    [Fact]
    public void TermsMatchPyTorchReference()
    {
        // Fixture: tests/fixtures-gen/model_losses.py (MindBridge soft_clip_loss, torch 1.13, float64).
        var root = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("model/losses.json")))!;
        foreach (var c in root["cases"]!.AsArray())
        {
            var shape = c!["shape"]!.AsArray().Select(x => (long)x!.GetValue<int>()).ToArray();
            var p = tensor(c["preds"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray()).reshape(shape);
            var y = tensor(c["targets"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray()).reshape(shape);
            double temp = c["temperature"]!.GetValue<double>();
            Assert.Equal(c["global"]!.GetValue<double>(), Losses.Global(p, y, temp).item<double>(), 9);
            Assert.Equal(c["token"]!.GetValue<double>(), Losses.TokenCosine(p, y).item<double>(), 12);
            Assert.Equal(c["mse"]!.GetValue<double>(), Losses.NormalisedMse(p, y).item<double>(), 12);
        }
    }

    [Fact]
    public void HandComputedSmallCase()
    {
        // Two samples, one token, 2-D: p = y = e1, e2 (orthogonal unit vectors).
        var y = tensor(new double[] { 1, 0, 0, 1 }).reshape(2, 1, 2);
        // token: identical → 0; mse: 0.
        Assert.Equal(0.0, Losses.TokenCosine(y, y).item<double>(), 12);
        Assert.Equal(0.0, Losses.NormalisedMse(y, y).item<double>(), 12);
        // p = [e2, e1] (swapped): cos = 0 per token → token loss 1; normalised vectors differ by √2 → MSE = (1+1)/2 per
        // sample = 1.
        var p = tensor(new double[] { 0, 1, 1, 0 }).reshape(2, 1, 2);
        Assert.Equal(1.0, Losses.TokenCosine(p, y).item<double>(), 12);
        Assert.Equal(1.0, Losses.NormalisedMse(p, y).item<double>(), 12);
        // SoftCLIP with τ = 1: targets softmax([[1,0],[0,1]]) rows = [e/(1+e), 1/(1+e)]; logits p·yᵀ = [[0,1],[1,0]].
        // Row i CE = −Σ_j t_ij log softmax(l_i)_j. For row 0: t = [a, b], log_softmax([0,1]) = [−log(1+e), 1−log(1+e)].
        double e = Math.E, a = e / (1 + e), b = 1 / (1 + e), lse = Math.Log(1 + e);
        double row = -(a * (0 - lse) + b * (1 - lse));
        Assert.Equal(row, Losses.Global(p, y, 1.0).item<double>(), 12);
    }

    [Fact]
    public void TotalIsTheWeightedSumOfTerms()
    {
        var cfg = ModelTestData.Tiny() with { };
        cfg = cfg with
        {
            Loss = cfg.Loss with
            { WDetail = 0.7, WSemantic = 1.3, Alpha = 50, Beta = 2, WRec = 0.5, WCross = 0.25 }
        };
        manual_seed(3);
        using var net = new BrainMClipNet(cfg, 10, 6);
        net.eval();
        var fD = randn(4, 10); var fS = randn(4, 6);
        var eD = randn(4, 17, 64); var eS = randn(4, 17, 32);
        var o = net.Forward(fD, fS);
        var l = Losses.Compute(net, o, fD, fS, eD, eS);
        double T(string k) => l.Terms[k].item<float>();
        double expected = 0.7 * (T("detail.global") + 2 * T("detail.token") + 50 * T("detail.mse"))
                        + 1.3 * (T("semantic.global") + 2 * T("semantic.token") + 50 * T("semantic.mse"))
                        + 0.5 * T("rec") + 0.25 * T("cross");
        Assert.Equal(expected, l.Total.item<float>(), 3);
        // rec and cross recomputed directly from the decoders.
        double rec = nn.functional.mse_loss(net.DecodeDetail(o.LatentDetail!)!, fD).item<float>()
                   + nn.functional.mse_loss(net.DecodeSemantic(o.LatentSemantic!)!, fS).item<float>();
        double cross = nn.functional.mse_loss(net.DecodeDetail(o.LatentSemantic!)!, fD).item<float>()
                     + nn.functional.mse_loss(net.DecodeSemantic(o.LatentDetail!)!, fS).item<float>();
        Assert.Equal(rec, T("rec"), 5);
        Assert.Equal(cross, T("cross"), 5);
        Assert.NotNull(l.Fusion);
    }

    [Fact]
    public void AlphaDetailWeighsOnlyTheDetailStreamsMse()
    {
        var cfg = ModelTestData.Tiny();
        cfg = cfg with { Loss = cfg.Loss with { Alpha = 50, AlphaDetail = 4000, Beta = 2, WRec = 0, WCross = 0 } };
        manual_seed(4);
        using var net = new BrainMClipNet(cfg, 10, 6);
        net.eval();
        var o = net.Forward(randn(4, 10), randn(4, 6));
        var l = Losses.Compute(net, o, null, null, randn(4, 17, 64), randn(4, 17, 32));
        double T(string k) => l.Terms[k].item<float>();
        double expected = cfg.Loss.WDetail * (T("detail.global") + 2 * T("detail.token") + 4000 * T("detail.mse"))
                        + cfg.Loss.WSemantic
                        * (T("semantic.global") + 2 * T("semantic.token") + 50 * T("semantic.mse"));
        Assert.Equal(expected, l.Total.item<float>(), 3);
    }

    [Fact]
    public void GlobalOnlyAblationDropsTokenAndMseTerms()
    {
        var cfg = ModelTestData.Tiny();
        cfg = cfg with { Ablation = cfg.Ablation with { GlobalOnly = true, NoRec = true, NoCross = true } };
        using var net = new BrainMClipNet(cfg, 10, 6);
        var o = net.Forward(randn(4, 10), randn(4, 6));
        var l = Losses.Compute(net, o, null, null, randn(4, 17, 64), randn(4, 17, 32));
        Assert.Equal(["detail.global", "fusion", "semantic.global"], l.Terms.Keys.Order().ToArray());
        Assert.Equal(cfg.Loss.WDetail * l.Terms["detail.global"].item<float>()
            + cfg.Loss.WSemantic * l.Terms["semantic.global"].item<float>(), l.Total.item<float>(), 4);
    }
}
