using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Training;

/// <summary>
/// Summaries of a study: per size the mean ± sd over seeds of ridge and the network and their paired difference
/// (per-image hit rates averaged over seeds, 95 % bootstrap CI over test images); per ablation its means and paired
/// differences to the full network and to ridge on the same seeds. Writes results.json, results.csv,
/// learning_curve.png and ablations.png.
/// </summary>
public static class StudyReport
{
    /// <summary>Stream.direction keys of the per-sample hit rates; the first is the study's headline metric.</summary>
    public static readonly IReadOnlyList<string> Metrics =
        ["semantic.brain_to_image", "semantic.image_to_brain", "detail.brain_to_image", "detail.image_to_brain"];

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Per matched baseline at one size: its means and its paired differences to the network and to ridge.
    /// </summary>
    static JsonObject Baselines(StudyOptions o, IReadOnlyList<StudyRun> runs, int size, List<StudyRun> net,
        List<StudyRun> ridge)
    {
        var baselines = new JsonObject();
        foreach (var b in o.Baselines)
        {
            var runsB = runs.Where(r => r.Size == size && r.Variant == b).ToList();
            if (runsB.Count == 0) continue;
            baselines[b] = new JsonObject
            {
                ["seeds"] = runsB.Count,
                ["top1"] = Means(runsB),
                ["network_minus_baseline"] = Differences(net, runsB, o.BootstrapResamples),
                ["baseline_minus_ridge"] = Differences(runsB, ridge, o.BootstrapResamples),
                ["train_seconds"] = runsB.Sum(r => r.TrainSeconds),
            };
        }
        return baselines;
    }

    public static JsonObject Write(string outDir, StudyOptions o, IReadOnlyList<StudyRun> runs, int testSamples)
    {
        int largest = o.Sizes.Max();
        var curve = new JsonArray();
        foreach (int size in o.Sizes.Distinct().Order())
        {
            var ridge = runs.Where(r => r.Size == size && r.Variant == "ridge").ToList();
            var net = runs.Where(r => r.Size == size && r.Variant == "full").ToList();
            curve.Add(new JsonObject
            {
                ["size"] = size,
                ["seeds"] = net.Count,
                ["ridge"] = Means(ridge),
                ["network"] = Means(net),
                ["network_minus_ridge"] = Differences(net, ridge, o.BootstrapResamples),
                ["baselines"] = Baselines(o, runs, size, net, ridge),
                ["train_seconds"] = new JsonObject
                {
                    ["ridge"] = ridge.Sum(r => r.TrainSeconds),
                    ["network"] = net.Sum(r => r.TrainSeconds),
                },
            });
        }
        var ablations = new JsonArray();
        foreach (var v in o.Ablations)
        {
            var runsV = runs.Where(r => r.Size == largest && r.Variant == v).ToList();
            if (runsV.Count == 0) continue;
            var seeds = runsV.Select(r => r.Seed).ToHashSet();
            var full = runs.Where(r => r.Size == largest && r.Variant == "full" && seeds.Contains(r.Seed)).ToList();
            var ridge = runs.Where(r => r.Size == largest && r.Variant == "ridge" && seeds.Contains(r.Seed)).ToList();
            ablations.Add(new JsonObject
            {
                ["variant"] = v,
                ["size"] = largest,
                ["seeds"] = runsV.Count,
                ["top1"] = Means(runsV),
                ["minus_full"] = Differences(runsV, full, o.BootstrapResamples),
                ["minus_ridge"] = Differences(runsV, ridge, o.BootstrapResamples),
                ["train_seconds"] = runsV.Sum(r => r.TrainSeconds),
            });
        }
        bool IsCurve(StudyRun r) => r.Variant is "ridge" or "full";
        var root = new JsonObject
        {
            ["network_config"] = JsonNode.Parse(o.Network.ToJson()),
            ["test_samples"] = testSamples,
            ["retrieval"] = new JsonObject
            {
                ["loops"] = o.Retrieval.Loops,
                ["batch"] = o.Retrieval.Batch,
                ["seed"] = o.Retrieval.Seed,
            },
            ["bootstrap"] = new JsonObject
            {
                ["resamples"] = o.BootstrapResamples,
                ["level"] = 0.95,
                ["over"] = "test images (per-image hit rates, averaged over seeds)",
            },
            ["sizes"] = new JsonArray(o.Sizes.Select(x => (JsonNode?)x).ToArray()),
            ["seeds"] = o.Seeds,
            ["wall_seconds"] = new JsonObject
            {
                ["learning_curve"] = runs.Where(IsCurve).Sum(r => r.TrainSeconds),
                ["ablations"] = runs.Where(r => !IsCurve(r)).Sum(r => r.TrainSeconds),
            },
            ["learning_curve"] = curve,
            ["ablations"] = ablations,
            ["runs"] = new JsonArray(runs.Select(r => (JsonNode?)r.ToJson(withPerSample: false)).ToArray()),
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), root.ToJsonString(Indented) + "\n");
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.csv"), Csv(runs));
        WritePlots(outDir, curve, runs.Where(r => r.Size == largest).ToList(), o.Ablations);
        return root;
    }

    static double? Top1(StudyRun r, string metric)
    {
        var parts = metric.Split('.');
        return r.Retrieval[parts[0]] is JsonObject s ? s[parts[1] + "_top1"]!.GetValue<double>() : null;
    }

    static JsonObject Means(IReadOnlyList<StudyRun> runs)
    {
        var o = new JsonObject();
        foreach (var m in Metrics)
        {
            var v = runs.Select(r => Top1(r, m)).OfType<double>().ToList();
            if (v.Count == 0) { o[m] = null; continue; }
            var (mean, sd) = StudyStatistics.MeanSd(v);
            o[m] = new JsonObject { ["mean"] = mean, ["sd"] = sd, ["n"] = v.Count };
        }
        return o;
    }

    static JsonObject Differences(IReadOnlyList<StudyRun> a, IReadOnlyList<StudyRun> b, int resamples)
    {
        var o = new JsonObject();
        foreach (var m in Metrics)
        {
            var pa = a.Where(r => r.PerSample.ContainsKey(m)).Select(r => r.PerSample[m]).ToList();
            var pb = b.Where(r => r.PerSample.ContainsKey(m)).Select(r => r.PerSample[m]).ToList();
            if (pa.Count == 0 || pb.Count == 0) { o[m] = null; continue; }
            var d = StudyStatistics.PairedBootstrap(StudyStatistics.MeanOverRuns(pa), StudyStatistics.MeanOverRuns(pb),
                resamples);
            o[m] = new JsonObject
            {
                ["mean"] = d.Mean,
                ["ci95_low"] = d.Low,
                ["ci95_high"] = d.High,
                ["excludes_zero"] = d.ExcludesZero,
            };
        }
        return o;
    }

    static string Csv(IReadOnlyList<StudyRun> runs)
    {
        var header = string.Join(",", Metrics.Select(m => m.Replace('.', '_') + "_top1"));
        var sb = new StringBuilder($"size,seed,variant,{header},train_seconds\n");
        foreach (var r in runs.OrderBy(r => r.Size).ThenBy(r => r.Seed).ThenBy(r => r.Variant, StringComparer.Ordinal))
        {
            var cells = string.Join(",",
                Metrics.Select(m => Top1(r, m) is { } v ? v.ToString("0.0000", CultureInfo.InvariantCulture) : ""));
            sb.Append(CultureInfo.InvariantCulture, $"{r.Size},{r.Seed},{r.Variant},{cells},{r.TrainSeconds:0.0}\n");
        }
        return sb.ToString();
    }

    static void WritePlots(string outDir, JsonArray curve, IReadOnlyList<StudyRun> largest,
        IReadOnlyList<string> ablations)
    {
        var sizes = curve.Select(c => (double)c!["size"]!.GetValue<int>()).ToArray();
        double Mean(JsonNode c, string model, string m) => c[model]?[m]?["mean"]?.GetValue<double>() ?? double.NaN;
        var series = new Dictionary<string, (double[], double[])>();
        foreach (var (model, label) in new[] { ("ridge", "ridge"), ("network", "network") })
            foreach (var (m, short_) in new[]
                     { ("semantic.brain_to_image", "semantic b→i"), ("semantic.image_to_brain", "semantic i→b") })
                series[$"{label} {short_}"] = (sizes, curve.Select(c => Mean(c!, model, m)).ToArray());
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "learning_curve.png"),
            Plots.Lines(series, "training samples", "Test retrieval top-1 (mean over seeds)"));

        var variants = new List<string> { "ridge", "full" };
        variants.AddRange(ablations.Where(v => largest.Any(r => r.Variant == v)));
        var values = new double[variants.Count, Metrics.Count];
        for (int i = 0; i < variants.Count; i++)
            for (int j = 0; j < Metrics.Count; j++)
            {
                var v = largest.Where(r => r.Variant == variants[i]).Select(r => Top1(r, Metrics[j]))
                    .OfType<double>().ToList();
                values[i, j] = v.Count == 0 ? double.NaN : v.Average();
            }
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "ablations.png"), Plots.Heatmap(values, variants,
            Metrics.Select(m => m.Replace("brain_to_image", "b→i").Replace("image_to_brain", "i→b")).ToList(),
            $"Test retrieval top-1 at n = {largest.FirstOrDefault()?.Size}"));
    }
}
