using System.Text.Json.Nodes;
using BrainMClip.Evidence;
using BrainMClip.Model;
using BrainMClip.Training;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Evidence;

/// <summary>
/// `evidence collect` and `evidence analyse` on study folders written exactly as `study` writes them (StudyRun from
/// Retrieval.Compute/PerSample of seeded random predictions; no training): lossless per-image data, model names,
/// idempotent merging, the analysis' differences against the runs' own top-1.
/// </summary>
public class EvidenceCollectorTests
{
    const int Test = 250;
    static readonly RetrievalSettings Settings = new(Loops: 6, Batch: 100, Seed: 42);

    /// <summary>A study folder with ridge, full and no_split at size 120 (seeds 0, 1) and ridge/full at 60 (seed 0).
    /// </summary>
    static void WriteStudy(string dir, int world)
    {
        File.WriteAllText(Path.Combine(dir, "network_config.json"), """{"kind": "brainmclip", "name": "tiny"}""");
        var truthS = randn([Test, 5, 4], generator: new Generator((ulong)world));
        var truthD = randn([Test, 5, 8], generator: new Generator((ulong)world + 1));
        var plan = new[] { (120, 0, "ridge"), (120, 0, "full"), (120, 1, "ridge"), (120, 1, "full"),
            (120, 0, "no_split"), (60, 0, "ridge"), (60, 0, "full") };
        foreach (var (size, seed, variant) in plan)
        {
            using var g = new Generator((ulong)(world * 1000 + size + seed * 7 + variant.Length));
            double noise = variant == "ridge" ? 2.0 : variant == "full" ? 1.5 : 1.0;
            var retrieval = new JsonObject();
            var per = new Dictionary<string, double[]>(StringComparer.Ordinal);
            foreach (var (stream, truth) in new[] { ("semantic", truthS), ("detail", truthD) })
            {
                var pred = truth + noise * randn(truth.shape, generator: g);
                var r = Retrieval.Compute(pred, truth, Settings.Loops, Settings.Batch, Settings.Seed);
                var p = Retrieval.PerSample(pred, truth, Settings.Loops, Settings.Batch, Settings.Seed);
                retrieval[stream] = r.ToJson();
                per[$"{stream}.image_to_brain"] = p.ImageToBrain;
                per[$"{stream}.brain_to_image"] = p.BrainToImage;
            }
            var run = new StudyRun(size, seed, variant, 10 + seed, retrieval, per);
            string runDir = Path.Combine(dir, "runs", $"n{size}", $"seed{seed}", variant);
            Directory.CreateDirectory(runDir);
            File.WriteAllText(Path.Combine(runDir, "result.json"), run.ToJson(withPerSample: true).ToJsonString());
        }
    }

    [Fact]
    public void DrawsAreTheAppearancesBehindThePerSampleRates()
    {
        var truth = randn([Test, 6], generator: new Generator(3));
        var pred = truth + 1.2 * randn([Test, 6], generator: new Generator(4));
        var p = Retrieval.PerSample(pred, truth, 6, 100, 42);
        var r = Retrieval.Compute(pred, truth, 6, 100, 42);
        var draws = Retrieval.Draws(Test, 6, 100, 42);
        Assert.Equal(600, draws.Sum());
        long hits = 0;
        for (int i = 0; i < Test; i++)
        {
            Assert.Equal(draws[i] == 0, double.IsNaN(p.BrainToImage[i]));
            if (draws[i] == 0) continue;
            double h = p.BrainToImage[i] * draws[i];
            Assert.Equal(Math.Round(h), h, 9);
            hits += (long)Math.Round(h);
        }
        Assert.Equal(r.BrainToImageTop1, hits / 600.0, 12);
        Assert.All(Retrieval.Draws(80, 6, 100, 42), d => Assert.Equal(1, d));   // one batch of all samples
    }

    [Fact]
    public void CollectIsLosslessIdempotentAndMergesSubjects()
    {
        using var dir = new TempDir();
        string study = Path.Combine(dir.Path, "study"), out_ = Path.Combine(dir.Path, "ev");
        Directory.CreateDirectory(study);
        WriteStudy(study, 5);
        var r = EvidenceCollector.Collect(study, 5, out_);
        Assert.Equal(7, r.Runs);
        Assert.Equal(["ridge", "tiny", "tiny_no_split"], r.Models);
        var table = EvidenceCollector.ReadTable(Path.Combine(out_, "results.json"));
        var per = PerImageFile.Read(PerImageFile.PathFor(out_, 5));
        Assert.Equal(Retrieval.Draws(Test, 6, 100, 42), per.Appearances);
        foreach (var run in table)
        {
            var variant = run.Model switch { "tiny" => "full", "tiny_no_split" => "no_split", var m => m };
            var src = StudyRun.FromJson((JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(study, "runs",
                $"n{run.NTrain}", $"seed{run.TrainSeed}", variant, "result.json")))!);
            var hits = per.Runs.Single(x => x.Model == run.Model && x.NTrain == run.NTrain &&
                x.TrainSeed == run.TrainSeed).Hits;
            foreach (var (name, key) in EvidenceMetrics.All)
            {
                // Per-run mean re-derived from the per-image data = the run's top-1 (loop mean).
                Assert.Equal(EvidenceMetrics.StudyTop1(src.Retrieval, key)!.Value, run.Top1[name]!.Value, 15);
                Assert.Equal(run.Top1[name]!.Value, (double)hits[name].Sum() / per.Appearances.Sum(), 12);
                // And every per-image rate comes back.
                for (int i = 0; i < Test; i++)
                    if (per.Appearances[i] == 0) Assert.True(double.IsNaN(src.PerSample[key][i]));
                    else Assert.Equal(src.PerSample[key][i], (double)hits[name][i] / per.Appearances[i], 12);
            }
        }
        string results1 = File.ReadAllText(Path.Combine(out_, "results.json"));
        string per1 = File.ReadAllText(PerImageFile.PathFor(out_, 5));
        EvidenceCollector.Collect(study, 5, out_);
        Assert.Equal(results1, File.ReadAllText(Path.Combine(out_, "results.json")));       // idempotent

        string study7 = Path.Combine(dir.Path, "study7");
        Directory.CreateDirectory(study7);
        WriteStudy(study7, 7);
        Assert.Equal(14, EvidenceCollector.Collect(study7, 7, out_).TotalRuns);
        Assert.Equal(14, EvidenceCollector.Collect(study, 5, out_).TotalRuns);     // re-collect replaces subject 5
        var merged = EvidenceCollector.ReadTable(Path.Combine(out_, "results.json"));
        Assert.Equal(merged.OrderBy(x => x.Subject).ThenBy(x => x.NTrain).ThenBy(x => x.Model, StringComparer.Ordinal)
            .ThenBy(x => x.TrainSeed), merged);
        Assert.Equal(per1, File.ReadAllText(PerImageFile.PathFor(out_, 5)));
        Assert.Contains(merged, x => x.Subject == 7);

        // The wrong retrieval seed cannot be mistaken for the study's draws.
        var bad = Assert.Throws<UserInputException>(() => EvidenceCollector.Collect(study, 5, out_, 7));
        Assert.Contains("retrieval", bad.Message);
    }

    static double[] PerSample(string root, int world, int n, int seed, string model, string metric)
    {
        string variant = model switch { "tiny" => "full", "tiny_no_split" => "no_split", var m => m };
        string key = EvidenceMetrics.All.Single(x => x.Name == metric).StudyKey;
        var run = StudyRun.FromJson((JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(root, $"study{world}",
            "runs", $"n{n}", $"seed{seed}", variant, "result.json")))!);
        return run.PerSample[key];
    }

    [Fact]
    public void AnalysisDifferencesAreTheRunsTop1Differences()
    {
        using var dir = new TempDir();
        string out_ = Path.Combine(dir.Path, "ev");
        foreach (int world in new[] { 5, 7, 9 })
        {
            string study = Path.Combine(dir.Path, $"study{world}");
            Directory.CreateDirectory(study);
            WriteStudy(study, world);
            EvidenceCollector.Collect(study, world, out_);
        }
        var a = EvidenceAnalysis.Analyse(out_, new EvidenceAnalysis.Options { Resamples = 300 });
        var table = EvidenceCollector.ReadTable(Path.Combine(out_, "results.json"));
        var comps = a["comparisons"]!.AsArray();
        // tiny − ridge at 60 and 120, tiny_no_split − tiny at 120; 4 metrics each.
        Assert.Equal(12, comps.Count);
        foreach (var c in comps)
        {
            string model = c!["model"]!.GetValue<string>(), baseline = c["baseline"]!.GetValue<string>();
            int n = c["n_train"]!.GetValue<int>();
            string metric = c["metric"]!.GetValue<string>();
            // Loop means: mean over subjects of the mean over paired seeds of the top-1 differences.
            double expected = table.Where(r => r.Model == model && r.NTrain == n).GroupBy(r => r.Subject)
                .Average(g => g.Average(r => r.Top1[metric]!.Value - table.Single(b => b.Model == baseline &&
                    b.NTrain == n && b.Subject == r.Subject && b.TrainSeed == r.TrainSeed).Top1[metric]!.Value));
            Assert.Equal(expected, c["difference_top1"]!.GetValue<double>(), 12);
            // The preregistered statistic: the same with the plain mean over images of per-image rate differences,
            // from the studies' own per_sample rates (images no loop drew are left out).
            double prereg = new[] { 5, 7, 9 }.Average(world => table.Where(r => r.Subject == world &&
                r.Model == model && r.NTrain == n).Average(r =>
                {
                    var a = PerSample(dir.Path, world, n, r.TrainSeed, model, metric);
                    var b = PerSample(dir.Path, world, n, r.TrainSeed, baseline, metric);
                    return a.Zip(b, (x, y) => x - y).Where(double.IsFinite).Average();
                }));
            Assert.Equal(prereg, c["difference"]!.GetValue<double>(), 12);
            Assert.Equal(3, c["per_subject"]!.AsArray().Count);
            Assert.Equal(3, c["subjects"]!.GetValue<int>());
            var h = c["ci95_hierarchical"]!.AsArray();
            Assert.InRange(expected, h[0]!.GetValue<double>(), h[1]!.GetValue<double>());
        }
        Assert.Contains(comps, c => c!["model"]!.GetValue<string>() == "tiny_no_split");
        Assert.True(File.Exists(Path.Combine(out_, "analysis.json")));
        // The generated table of the docs: a header, a rule and one row per comparison.
        var md = EvidenceBlocks.Format(comps, "analysis-table", "test").Split('\n');
        Assert.Equal(comps.Count + 2, md.Length);
        Assert.StartsWith("| tiny − ridge | 60 | semantic_b2i | 3 | ", md[2]);
    }
}
