using System.Text.Json.Nodes;
using BrainMClip.Evaluation;
using BrainMClip.Evaluation.Networks;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Evaluation;

public class NetsInitTests
{
    static string MetricsDir => TestPaths.Fixture("eval/metrics");

    static JsonObject Evaluate(string nets, string outPath)
    {
        int rc = BrainMClip.Cli.Program.Main(["evaluate", "--recons", Path.Combine(MetricsDir, "recons"),
            "--truth", Path.Combine(MetricsDir, "truth"), "--out", outPath, "--nets", nets,
            "--metrics", "pixcorr,alexnet2,alexnet5,clip"]);
        Assert.Equal(0, rc);
        return (JsonObject)JsonNode.Parse(File.ReadAllText(outPath))!;
    }

    [Fact]
    public void NetsInitWritesSeededRandomWeightsThatEvaluateLabelsRandom()
    {
        using var tmp = new TempDir();
        string nets = Path.Combine(tmp.Path, "nets"), again = Path.Combine(tmp.Path, "again");
        string other = Path.Combine(tmp.Path, "other");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["nets-init", "--out", nets, "--networks", "alexnet", "--seed", "3"]));
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["nets-init", "--out", again, "--networks", "alexnet", "--seed", "3"]));
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["nets-init", "--out", other, "--networks", "alexnet", "--seed", "4"]));
        string alex = Path.Combine(nets, "alexnet.safetensors");
        Assert.Equal(File.ReadAllBytes(alex), File.ReadAllBytes(Path.Combine(again, "alexnet.safetensors")));
        Assert.NotEqual(File.ReadAllBytes(alex), File.ReadAllBytes(Path.Combine(other, "alexnet.safetensors")));
        Assert.False(File.Exists(Path.Combine(nets, "inception_v3.safetensors")));
        Assert.True(File.Exists(Path.Combine(nets, "clip", "model.safetensors")));

        // torchvision's init: kaiming_normal_(fan_out) convolutions, zero biases; no classifier head stored.
        using (var scope = NewDisposeScope())
        {
            var w = SafeTensors.Load(alex);
            var conv = w["features.0.weight"];
            Assert.Equal(new long[] { 64, 3, 11, 11 }, conv.shape);
            double expected = Math.Sqrt(2.0 / (64 * 11 * 11)), std = conv.std().item<float>();
            Assert.InRange(std / expected, 0.97, 1.03);
            Assert.Equal(0f, w["features.0.bias"].abs().max().item<float>());
            Assert.DoesNotContain(w.Keys, k => k.StartsWith("classifier.", StringComparison.Ordinal));
        }

        var m = Evaluate(nets, Path.Combine(tmp.Path, "M.json"));
        var weights = m["network_weights"]!.AsObject();
        Assert.Equal("random weights (brainmclip nets-init, seed 3)", weights["alexnet"]!.GetValue<string>());
        Assert.StartsWith("random weights (clip-init preset tiny, seed 3)", weights["clip"]!.GetValue<string>());
        foreach (var metric in new[] { "alexnet2", "alexnet5", "clip" })
        {
            var per = m["metrics"]![metric]!["per_image"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            Assert.Equal(4, per.Length);
            Assert.All(per, v => Assert.InRange(Math.Abs(v * 3 - Math.Round(v * 3)), 0, 1e-12)); // count/(N−1), N = 4
        }
        var report = MetricsReport.Load(Path.Combine(tmp.Path, "M.json"));
        Assert.True(report.IsRandom("alexnet2") && report.IsRandom("clip"));
        Assert.False(report.IsRandom("pixcorr"));
        string table = report.FormatTable();
        Assert.Contains("(random net)", table.Split('\n')
            .Single(l => l.StartsWith("Alex(2)", StringComparison.Ordinal)));
        Assert.DoesNotContain("MindEye", table); // no published figures unless the data is real NSD

        // Other weights copied over the random file: used as given, no longer labelled random.
        using (var net = MetricNetwork.Create("alexnet")) HashedWeights.Write(net, alex);
        var m2 = Evaluate(nets, Path.Combine(tmp.Path, "M2.json"));
        Assert.False(m2["network_weights"]!.AsObject().ContainsKey("alexnet"));
        Assert.True(m2["network_weights"]!.AsObject().ContainsKey("clip"));
        Assert.False(MetricsReport.Load(Path.Combine(tmp.Path, "M2.json")).IsRandom("alexnet2"));
    }

    [Theory]
    [InlineData("inception_v3")]
    [InlineData("efficientnet_b1")]
    [InlineData("resnet50")]
    public void RandomWeightsGiveFiniteFeaturesThatTellImagesApart(string name)
    {
        using var scope = NewDisposeScope();
        using var model = MetricNetwork.Create(name);
        var sd = model.WeightsStateDict();
        using (no_grad())
            foreach (var (k, v) in RandomMetricNetworks.RandomWeights(model, 0, 0)) sd[k].copy_(v);
        model.eval();
        var images = rand([2, 3, 64, 64], generator: new Generator(5));
        Tensor f;
        using (no_grad()) f = model.Extract(model.Preprocess(images))["avgpool"].flatten(1).to_type(ScalarType.Float64);
        Assert.True(f.isfinite().all().item<bool>());
        var c = f - f.mean([1], keepdim: true);
        double Dot(Tensor a, Tensor b) => (a * b).sum().item<double>();
        double r = Dot(c[0], c[1]) / Math.Sqrt(Dot(c[0], c[0]) * Dot(c[1], c[1]));
        Assert.True(r < 1 - 1e-6, $"{name}: features of two different images correlate {r}");
        Assert.True(f.std().item<double>() > 0);
    }
}
