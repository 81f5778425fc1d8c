using System.Text.Json;
using BrainMClip.Evaluation.Networks;
using Xunit;

namespace BrainMClip.Tests.Evaluation;

public class EvaluateCommandTests
{
    [Fact]
    public void EvaluateWritesMetricsJsonWithSkippedNetworks()
    {
        using var tmp = new TempDir();
        string nets = Path.Combine(tmp.Path, "nets");
        Directory.CreateDirectory(nets);
        using (var alex = MetricNetwork.Create("alexnet")) HashedWeights.Write(alex,
            Path.Combine(nets, "alexnet.safetensors"));
        using (var eff = MetricNetwork.Create("efficientnet_b1")) HashedWeights.Write(eff,
            Path.Combine(nets, "efficientnet_b1.safetensors"));
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["clip-init", "--out", Path.Combine(nets, "clip"), "--preset", "tiny"]));
        string dir = TestPaths.Fixture("eval/metrics"), outPath = Path.Combine(tmp.Path, "METRICS.json");
        int rc = BrainMClip.Cli.Program.Main(
            ["evaluate", "--recons", Path.Combine(dir, "recons"), "--truth", Path.Combine(dir, "truth"),
            "--out", outPath, "--nets", nets, "--metrics",
                "pixcorr,ssim,ssim_legacy,alexnet2,alexnet5,efficientnet,swav,clip"]);
        Assert.Equal(0, rc);
        using var doc = JsonDocument.Parse(File.ReadAllText(outPath));
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("n").GetInt32());
        var metrics = root.GetProperty("metrics");
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        foreach (var m in new[] { "pixcorr", "ssim", "ssim_legacy" })
            Assert.InRange(
                Math.Abs(metrics.GetProperty(m).GetProperty("mean").GetDouble() - expected.RootElement.GetProperty(m)
                .GetProperty("mean").GetDouble()), 0, 1e-6);
        foreach (var m in new[] { "alexnet2", "alexnet5", "clip" })
        {
            var per = metrics.GetProperty(m).GetProperty("per_image").EnumerateArray().Select(e => e.GetDouble())
                .ToArray();
            Assert.Equal(4, per.Length);
            // per_image = count/(N−1) with N = 4: multiples of 1/3.
            Assert.All(per, v => Assert.InRange(Math.Abs(v * 3 - Math.Round(v * 3)), 0, 1e-12));
            Assert.Equal(per.Average(), metrics.GetProperty(m).GetProperty("mean").GetDouble(), 12);
        }
        // The whole pipeline (resize, normalisation, network, Pearson) against torchvision + numpy (eval_networks.py).
        var reference = BrainMClip.IO.SafeTensors.Load(TestPaths.Fixture("eval/networks.safetensors"));
        foreach (var m in new[] { "alexnet2", "alexnet5", "efficientnet" })
        {
            var exp = reference[$"protocol.{m}"].data<double>().ToArray();
            var got = metrics.GetProperty(m).GetProperty("per_image").EnumerateArray().Select(e => e.GetDouble())
                .ToArray();
            for (int i = 0; i < exp.Length; i++) Assert.InRange(Math.Abs(got[i] - exp[i]), 0, 1e-5);
        }
        Assert.False(metrics.TryGetProperty("swav", out _));
        Assert.Contains("swav_resnet50.safetensors", root.GetProperty("skipped").GetProperty("swav").GetString());
        Assert.False(root.GetProperty("skipped").TryGetProperty("clip", out _));
        Assert.False(metrics.TryGetProperty("inception", out _)); // not requested: neither computed nor skipped
        Assert.False(root.GetProperty("skipped").TryGetProperty("inception", out _));
    }

    [Fact]
    public void SeveralReconstructionSetsInOnePassEqualSeparateRuns()
    {
        using var tmp = new TempDir();
        string nets = Path.Combine(tmp.Path, "nets");
        Directory.CreateDirectory(nets);
        using (var alex = MetricNetwork.Create("alexnet")) HashedWeights.Write(alex,
            Path.Combine(nets, "alexnet.safetensors"));
        string dir = TestPaths.Fixture("eval/metrics"), truth = Path.Combine(dir, "truth"),
            a = Path.Combine(dir, "recons");
        // A second set: the reconstructions in another order (other scores, same numbers).
        string b = Path.Combine(tmp.Path, "shuffled");
        Directory.CreateDirectory(b);
        var files = Directory.GetFiles(a, "rec_*.png").Order().ToArray();
        for (int i = 0; i < files.Length; i++) File.Copy(files[i],
            Path.Combine(b, Path.GetFileName(files[(i + 1) % files.Length])));
        string[] common = ["--truth", truth, "--nets", nets, "--metrics", "pixcorr,ssim,alexnet2,alexnet5"];
        string oneA = Path.Combine(tmp.Path, "A.json"), oneB = Path.Combine(tmp.Path, "B.json");
        Assert.Equal(0, BrainMClip.Cli.Program.Main(["evaluate", "--recons", a, "--out", oneA, .. common]));
        Assert.Equal(0, BrainMClip.Cli.Program.Main(["evaluate", "--recons", b, "--out", oneB, .. common]));
        string bothA = Path.Combine(tmp.Path, "A2.json"), bothB = Path.Combine(tmp.Path, "B2.json");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(
            ["evaluate", "--recons", a, "--out", bothA, "--recons", b, "--out", bothB, .. common]));
        Assert.Equal(File.ReadAllText(oneA), File.ReadAllText(bothA));
        Assert.Equal(File.ReadAllText(oneB), File.ReadAllText(bothB));
        Assert.NotEqual(File.ReadAllText(oneA), File.ReadAllText(oneB));
        Assert.Equal(2,
            BrainMClip.Cli.Program.Main(["evaluate", "--recons", a, "--recons", b, "--out", bothA, .. common]));
    }

    [Fact]
    public void EvaluateRejectsUnpairedReconstructions()
    {
        using var tmp = new TempDir();
        string dir = TestPaths.Fixture("eval/metrics");
        string recons = Path.Combine(tmp.Path, "recons");
        Directory.CreateDirectory(recons);
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "recons"))) File.Copy(f,
            Path.Combine(recons, Path.GetFileName(f)));
        File.Copy(Path.Combine(dir, "recons", "rec_000.png"), Path.Combine(recons, "rec_042.png"));
        int rc = BrainMClip.Cli.Program.Main(
            ["evaluate", "--recons", recons, "--truth", Path.Combine(dir, "truth"), "--out",
            Path.Combine(tmp.Path, "m.json"), "--metrics", "pixcorr"]);
        Assert.Equal(2, rc);
        Assert.False(File.Exists(Path.Combine(tmp.Path, "m.json")));
    }
}

public class EvaluateArrayInputTests
{
    [Theory]
    [InlineData("uint8")]
    [InlineData("float01")]
    public void TruthAsNpyArrayPairsByRow(string kind)
    {
        using var tmp = new TempDir();
        string dir = TestPaths.Fixture("eval/metrics");
        // Rows 0,1 of an (N,256,256,3) uint8 stimulus array = gt_000, gt_001 (same size, as an NSD stim file).
        var rows = new[] { 0, 1 }.Select(i => BrainMClip.IO.ImageIO.Read(Path.Combine(dir, "truth", $"gt_{i:000}.png")))
            .ToList();
        string npy = Path.Combine(tmp.Path, "stim.npy");
        var bytes = rows.SelectMany(r => r.Pixels).ToArray();
        if (kind == "uint8") BrainMClip.IO.Npy.WriteUInt8(npy, [2, 256, 256, 3], bytes);
        else BrainMClip.IO.Npy.WriteFloat32(npy, [2, 256, 256, 3], bytes.Select(b => b / 255f).ToArray());
        string recons = Path.Combine(tmp.Path, "recons");
        Directory.CreateDirectory(recons);
        foreach (var i in new[] { 0, 1 }) File.Copy(Path.Combine(dir, "recons", $"rec_{i:000}.png"),
            Path.Combine(recons, $"{i}.png"));
        string outPath = Path.Combine(tmp.Path, "m.json");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(
            ["evaluate", "--recons", recons, "--truth", npy, "--out", outPath, "--metrics", "pixcorr,ssim"]));
        using var doc = JsonDocument.Parse(File.ReadAllText(outPath));
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        foreach (var m in new[] { "pixcorr", "ssim" })
        {
            var got = doc.RootElement.GetProperty("metrics").GetProperty(m).GetProperty("per_image").EnumerateArray()
                .Select(e => e.GetDouble()).ToArray();
            var exp = expected.RootElement.GetProperty(m).GetProperty("per_image").EnumerateArray()
                .Select(e => e.GetDouble()).Take(2).ToArray();
            for (int i = 0; i < 2; i++) Assert.InRange(Math.Abs(got[i] - exp[i]), 0, 3e-6);
        }
    }
}
