using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Training;

namespace BrainMClip.Evidence;

/// <summary>
/// `brainmclip evidence analyse`: every model-vs-baseline difference of the evidence table at every training size
/// and for every metric, with the hierarchical and the image-only 95 % bootstrap intervals
/// (<see cref="HierarchicalBootstrap"/>), written to ROOT/analysis.json. Runs are paired by subject and training seed
/// (the seed fixes the training subset); subjects without both models at that size are left out.
/// </summary>
public static class EvidenceAnalysis
{
    public sealed record Options
    {
        /// <summary>The network's model name (the study's network configuration name).</summary>
        public string Network { get; init; } = "tiny";
        /// <summary>Bootstrap replicates.</summary>
        public int Resamples { get; init; } = 2000;
        /// <summary>Bootstrap seed.</summary>
        public int Seed { get; init; }
    }

    /// <summary>The (model, baseline) pairs, network = the network's model name; plus every other `network_X`
    /// ablation against the network.</summary>
    public static IReadOnlyList<(string Model, string Baseline)> Pairs(string network, IEnumerable<string> models)
    {
        var pairs = new List<(string, string)>
        {
            (network, "ridge"), (network, "ridge_retrieval_alpha"), (network, "linear"),
            ($"{network}_no_split", network), ("ridge_no_split", "ridge"), ("linear", "ridge"),
        };
        foreach (var m in models.Distinct().Order(StringComparer.Ordinal))
            if (m.StartsWith(network + "_", StringComparison.Ordinal) && !pairs.Contains((m, network)))
                pairs.Add((m, network));
        return pairs;
    }

    public static JsonObject Analyse(string root, Options o, TextWriter? log = null)
    {
        string resultsPath = Path.Combine(root, "results.json");
        var table = EvidenceCollector.ReadTable(resultsPath);
        var perImage = new Dictionary<int, PerImageFile>();
        foreach (int s in table.Select(r => r.Subject).Distinct().Order())
        {
            string p = PerImageFile.PathFor(root, s);
            var f = PerImageFile.Read(p);
            if (f.Subject != s) throw new UserInputException($"{p}: holds subject {f.Subject}, expected {s}");
            perImage[s] = f;
        }
        var hits = Index(table, perImage, resultsPath);
        var comparisons = new JsonArray();
        var pairs = Pairs(o.Network, table.Select(r => r.Model));
        foreach (var (model, baseline) in pairs)
            foreach (int n in table.Select(r => r.NTrain).Distinct().Order())
                foreach (var metric in EvidenceMetrics.Names)
                {
                    var c = Compare(model, baseline, n, metric, perImage, hits, o);
                    if (c is null) continue;
                    comparisons.Add(c);
                    log?.WriteLine($"evidence analyse: {model} − {baseline} n {n} {metric}: " +
                        $"{c["difference"]!.GetValue<double>():+0.0000;−0.0000}");
                }
        var result = new JsonObject
        {
            ["source"] = "results.json and per_image/subject{S}.json (brainmclip evidence collect)",
            ["network"] = o.Network,
            ["subjects"] = new JsonArray(perImage.Keys.Select(k => (JsonNode?)k).ToArray()),
            ["bootstrap"] = new JsonObject
            {
                ["resamples"] = o.Resamples,
                ["seed"] = o.Seed,
                ["level"] = 0.95,
                ["statistic"] = "difference: mean over subjects of the mean over paired training seeds of the mean " +
                    "over test images of the per-image paired difference of hit rates (hits / appearances; " +
                    "docs/evidence/preregistration.md); difference_top1: the same over the runs' top-1 loop means",
                ["hierarchical"] = "subjects with replacement; within each, training seeds with replacement and " +
                    "test images with replacement (one image resample per subject, shared by its seeds)",
                ["images_only"] = "subjects and seeds fixed; test images with replacement within each subject " +
                    "(pooled: ci95_images; per subject: per_subject[].ci95_images, StudyStatistics.PairedBootstrap " +
                    "over seed-averaged per-image rates)",
                ["verdict"] = "beats: the hierarchical 95% interval lies above zero; loses: below; otherwise no " +
                    "difference shown",
            },
            ["comparisons"] = comparisons,
        };
        AtomicFile.WriteAllText(Path.Combine(root, "analysis.json"),
            result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return result;
    }

    /// <summary>(subject, model, n_train, seed) → metric → hit counts; checks each run's top-1 against them.</summary>
    static Dictionary<(int, string, int, int), IReadOnlyDictionary<string, int[]>> Index(List<EvidenceRun> table,
        Dictionary<int, PerImageFile> perImage, string resultsPath)
    {
        var hits = new Dictionary<(int, string, int, int), IReadOnlyDictionary<string, int[]>>();
        foreach (var (s, f) in perImage)
            foreach (var r in f.Runs) hits[(s, r.Model, r.NTrain, r.TrainSeed)] = r.Hits;
        foreach (var r in table)
        {
            if (!hits.TryGetValue((r.Subject, r.Model, r.NTrain, r.TrainSeed), out var h))
                throw new UserInputException($"{resultsPath}: run subject {r.Subject} {r.Model} n {r.NTrain} seed " +
                    $"{r.TrainSeed} has no per-image data in {PerImageFile.PathFor("per_image/..", r.Subject)}");
            long w = perImage[r.Subject].Appearances.Sum(x => (long)x);
            foreach (var (m, v) in r.Top1)
            {
                bool has = h.TryGetValue(m, out var hm);
                if (v is null != !has || (has && Math.Abs((double)hm!.Sum(x => (long)x) / w - v!.Value) > 1e-9))
                    throw new UserInputException($"{resultsPath}: {m} of subject {r.Subject} {r.Model} n {r.NTrain} " +
                        $"seed {r.TrainSeed} is {v?.ToString() ?? "null"} but its per-image hits disagree");
            }
        }
        return hits;
    }

    /// <summary>One subject's paired runs of one comparison: per-image rates (hits / appearances, images that
    /// appear) and hit counts, per paired seed.</summary>
    sealed record Paired(int Subject, List<int> Seeds, double[] Appearances, List<double[]> HitsA, List<double[]> HitsB)
    {
        public List<double[]> RatesA => HitsA.Select(Rates).ToList();
        public List<double[]> RatesB => HitsB.Select(Rates).ToList();
        double[] Rates(double[] h) => h.Select((x, i) => x / Appearances[i]).ToArray();
        public double[] Ones => Appearances.Select(_ => 1.0).ToArray();
        public static List<double[]> Minus(List<double[]> a, List<double[]> b) =>
            a.Zip(b, (x, y) => x.Zip(y, (p, q) => p - q).ToArray()).ToList();
    }

    static List<Paired> PairRuns(string model, string baseline, int n, string metric,
        Dictionary<int, PerImageFile> perImage,
        Dictionary<(int, string, int, int), IReadOnlyDictionary<string, int[]>> hits)
    {
        var list = new List<Paired>();
        foreach (var (s, f) in perImage)
        {
            var seeds = f.Runs.Where(r => r.Model == model && r.NTrain == n && r.Hits.ContainsKey(metric))
                .Select(r => r.TrainSeed)
                .Where(k => hits.TryGetValue((s, baseline, n, k), out var b) && b.ContainsKey(metric))
                .Distinct().Order().ToList();
            if (seeds.Count == 0) continue;
            var keep = Enumerable.Range(0, f.TestSamples).Where(i => f.Appearances[i] > 0).ToArray();
            double[] Pick(int[] v) => keep.Select(i => (double)v[i]).ToArray();
            list.Add(new Paired(s, seeds, Pick(f.Appearances),
                seeds.Select(k => Pick(hits[(s, model, n, k)][metric])).ToList(),
                seeds.Select(k => Pick(hits[(s, baseline, n, k)][metric])).ToList()));
        }
        return list;
    }

    /// <summary>
    /// The preregistered statistic (docs/evidence/preregistration.md): mean over subjects of the mean over paired
    /// seeds of the mean over test images of the per-image rate difference, with the hierarchical interval, the
    /// pooled image-only interval and, per subject, the image-only paired bootstrap of StudyReport
    /// (<see cref="StudyStatistics.PairedBootstrap"/> over seed-averaged per-image rates). Also the difference of
    /// the runs' top-1 loop means (the figure the study tables show: images weighted by their appearances).
    /// </summary>
    static JsonObject? Compare(string model, string baseline, int n, string metric,
        Dictionary<int, PerImageFile> perImage,
        Dictionary<(int, string, int, int), IReadOnlyDictionary<string, int[]>> hits, Options o)
    {
        var pairs = PairRuns(model, baseline, n, metric, perImage, hits);
        if (pairs.Count == 0) return null;
        var diff = pairs.Select(p => new BootstrapSubject(p.Ones, Paired.Minus(p.RatesA, p.RatesB))).ToList();
        double Mean(Func<Paired, BootstrapSubject> f) => HierarchicalBootstrap.Statistic(pairs.Select(f).ToList());
        var hier = HierarchicalBootstrap.Interval(diff, true, true, o.Resamples, o.Seed);
        var img = HierarchicalBootstrap.Interval(diff, false, false, o.Resamples, o.Seed);
        var perSubject = new JsonArray();
        foreach (var p in pairs)
        {
            var d = StudyStatistics.PairedBootstrap(StudyStatistics.MeanOverRuns(p.RatesA),
                StudyStatistics.MeanOverRuns(p.RatesB), o.Resamples, o.Seed);
            perSubject.Add(new JsonObject
            {
                ["subject"] = p.Subject,
                ["seeds"] = new JsonArray(p.Seeds.Select(x => (JsonNode?)x).ToArray()),
                ["difference"] = d.Mean,
                ["ci95_images"] = new JsonArray(d.Low, d.High),
            });
        }
        return new JsonObject
        {
            ["model"] = model,
            ["baseline"] = baseline,
            ["n_train"] = n,
            ["metric"] = metric,
            ["subjects"] = pairs.Count,
            ["model_mean"] = Mean(p => new BootstrapSubject(p.Ones, p.RatesA)),
            ["baseline_mean"] = Mean(p => new BootstrapSubject(p.Ones, p.RatesB)),
            ["difference"] = HierarchicalBootstrap.Statistic(diff),
            ["ci95_hierarchical"] = new JsonArray(hier.Low, hier.High),
            ["ci95_images"] = new JsonArray(img.Low, img.High),
            ["verdict"] = hier.Low > 0 ? "beats" : hier.High < 0 ? "loses" : "no difference shown",
            ["model_top1"] = Mean(p => new BootstrapSubject(p.Appearances, p.HitsA)),
            ["baseline_top1"] = Mean(p => new BootstrapSubject(p.Appearances, p.HitsB)),
            ["difference_top1"] = Mean(p => new BootstrapSubject(p.Appearances, Paired.Minus(p.HitsA, p.HitsB))),
            ["per_subject"] = perSubject,
        };
    }
}
