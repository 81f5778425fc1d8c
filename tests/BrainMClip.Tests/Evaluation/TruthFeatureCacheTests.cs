using System.Text.Json.Nodes;
using BrainMClip.Evaluation;
using Xunit;

namespace BrainMClip.Tests.Evaluation;

/// <summary><c>evaluate --truth-cache</c>: the ground truth's network features computed once and reused.</summary>
public class TruthFeatureCacheTests
{
    static string MetricsDir => TestPaths.Fixture("eval/metrics");
    const string Metrics = "pixcorr,ssim,alexnet2,alexnet5,clip";

    static int Evaluate(params string[] extra) => BrainMClip.Cli.Program.Main(
        ["evaluate", "--truth", Path.Combine(MetricsDir, "truth"), "--metrics", Metrics, .. extra]);

    static int NetsInit(string dir, int seed) =>
        BrainMClip.Cli.Program.Main(["nets-init", "--out", dir, "--networks", "alexnet", "--seed", $"{seed}"]);

    static JsonNode Scores(string path) => JsonNode.Parse(File.ReadAllText(path))!["metrics"]!;

    [Fact]
    public void ScoresFromTheCacheEqualScoresComputedDirectly()
    {
        using var tmp = new TempDir();
        string nets = Path.Combine(tmp.Path, "nets"), cache = Path.Combine(tmp.Path, "truth.safetensors");
        string recons = Path.Combine(MetricsDir, "recons");
        Assert.Equal(0, NetsInit(nets, 2));

        string direct = Path.Combine(tmp.Path, "direct.json"), cached = Path.Combine(tmp.Path, "cached.json");
        Assert.Equal(0, Evaluate("--nets", nets, "--recons", recons, "--out", direct));
        // --truth-cache alone computes only the ground truth's features, then a scoring run reads them.
        Assert.Equal(0, Evaluate("--nets", nets, "--truth-cache", cache));
        Assert.True(File.Exists(cache));
        var header = BrainMClip.IO.SafeTensors.ReadHeader(cache);
        Assert.Equal(["alexnet2", "alexnet5", "clip"], header.Entries.Keys.Order().ToArray());
        byte[] before = File.ReadAllBytes(cache);
        Assert.Equal(0, Evaluate("--nets", nets, "--recons", recons, "--out", cached, "--truth-cache", cache));
        Assert.Equal(before, File.ReadAllBytes(cache)); // a hit: not rewritten
        Assert.Equal(Scores(direct).ToJsonString(), Scores(cached).ToJsonString());
    }

    [Fact]
    public void OtherNetworkWeightsMakeTheCacheAMissAndItIsRewritten()
    {
        using var tmp = new TempDir();
        string nets = Path.Combine(tmp.Path, "nets"), cache = Path.Combine(tmp.Path, "truth.safetensors");
        Assert.Equal(0, NetsInit(nets, 2));
        Assert.Equal(0, Evaluate("--nets", nets, "--truth-cache", cache));
        byte[] first = File.ReadAllBytes(cache);
        // Other weights in the same file: seed 5's AlexNet copied over seed 2's.
        string nets5 = Path.Combine(tmp.Path, "nets5"), alex = Path.Combine(nets, "alexnet.safetensors");
        Assert.Equal(0, NetsInit(nets5, 5));
        File.Copy(Path.Combine(nets5, "alexnet.safetensors"), alex, overwrite: true);
        File.SetLastWriteTimeUtc(alex, DateTime.UtcNow.AddSeconds(5));
        string direct = Path.Combine(tmp.Path, "direct.json"), cached = Path.Combine(tmp.Path, "cached.json");
        string recons = Path.Combine(MetricsDir, "recons");
        Assert.Equal(0, Evaluate("--nets", nets, "--recons", recons, "--out", cached, "--truth-cache", cache));
        Assert.NotEqual(first, File.ReadAllBytes(cache));
        Assert.Equal(0, Evaluate("--nets", nets, "--recons", recons, "--out", direct));
        Assert.Equal(Scores(direct).ToJsonString(), Scores(cached).ToJsonString());
    }

    [Fact]
    public void NeitherReconsNorTruthCacheIsAUsageError() => Assert.Equal(2, Evaluate());

    [Fact]
    public void TheFingerprintFollowsTheFilesNotTheirNames()
    {
        using var tmp = new TempDir();
        string a = Path.Combine(tmp.Path, "a.bin");
        File.WriteAllBytes(a, [1, 2, 3]);
        string f1 = TruthFeatureCache.Fingerprint(a, []);
        Assert.Equal(f1, TruthFeatureCache.Fingerprint(a, []));
        File.WriteAllBytes(a, [1, 2, 3, 4]);
        Assert.NotEqual(f1, TruthFeatureCache.Fingerprint(a, []));
    }
}
