using System.Text.Json;
using BrainMClip.Evaluation;
using BrainMClip.IO;
using Xunit;
using Xunit.Abstractions;

namespace BrainMClip.Tests.Evaluation;

public class PixelMetricsTests(ITestOutputHelper output)
{
    static string Dir => TestPaths.Fixture("eval/metrics");

    [Fact]
    public void PixCorrSsimAndLegacyMatchScikitImage()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        int n = doc.RootElement.GetProperty("n").GetInt32();
        var got = new List<LowLevelMetrics.PairScores>();
        for (int i = 0; i < n; i++)
        {
            using var gt = ImageTensors.Prepare(ImageIO.Read(Path.Combine(Dir, "truth", $"gt_{i:000}.png")));
            using var rec = ImageTensors.Prepare(ImageIO.Read(Path.Combine(Dir, "recons", $"rec_{i:000}.png")));
            got.Add(LowLevelMetrics.Compute(gt, rec));
        }
        foreach (var (name, sel) in new (string, Func<LowLevelMetrics.PairScores, double>)[]
                 { ("pixcorr", s => s.PixCorr), ("ssim", s => s.Ssim), ("ssim_legacy", s => s.SsimLegacy) })
        {
            var exp = doc.RootElement.GetProperty(name);
            var per = exp.GetProperty("per_image").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (int i = 0; i < n; i++)
            {
                output.WriteLine($"{name}[{i}] ours {sel(got[i]):R} ref {per[i]:R} diff {sel(got[i]) - per[i]:E2}");
                Assert.InRange(Math.Abs(sel(got[i]) - per[i]), 0, 3e-6);
            }
            Assert.InRange(Math.Abs(got.Average(sel) - exp.GetProperty("mean").GetDouble()), 0, 1e-6);
        }
    }
}
