using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Evidence;

/// <summary>One run's per-image hit counts (metric → count per test image; a stream the model has not is absent).
/// </summary>
public sealed record PerImageRun(string Model, int NTrain, int TrainSeed, IReadOnlyDictionary<string, int[]> Hits);

/// <summary>
/// ROOT/per_image/subject{S}.json: the per-image retrieval outcomes of one subject's runs, losslessly and compactly.
/// `study` stores per-image hit rates = hits / appearances, where appearances (how many loops drew the image) depend
/// only on the test-set size and the retrieval settings (<see cref="Retrieval.Draws"/>), not on the model; so the file
/// holds the appearances once and each run's integer hit counts, each array as a string of one base-36 digit per
/// test image ("0"–"9", "a"–"z" = 0–35; "csv" — comma-separated integers — when an image appears more than 35
/// times). A run's top-1 is Σ hits / Σ appearances (every loop draws the same number of images), which the collector
/// checks against the run's result.json before writing.
/// </summary>
public sealed class PerImageFile
{
    public required int Subject { get; init; }
    public required RetrievalSettings Retrieval { get; init; }
    public required int[] Appearances { get; init; }
    public required IReadOnlyList<PerImageRun> Runs { get; init; }
    public int TestSamples => Appearances.Length;

    public static string PathFor(string root, int subject) =>
        System.IO.Path.Combine(root, "per_image", $"subject{subject}.json");

    /// <summary>Hit counts of the study runs, checked: rate × appearances is an integer in [0, appearances], NaN
    /// exactly where an image never appears, and Σ hits / Σ appearances is the run's reported top-1.</summary>
    public static PerImageFile FromStudyRuns(int subject, long retrievalSeed,
        IReadOnlyList<(StudyRun Run, string File, string Model)> runs)
    {
        var (first, firstFile, _) = runs[0];
        var anyStream = first.Retrieval.Select(kv => kv.Value).OfType<JsonObject>().FirstOrDefault()
            ?? throw new UserInputException($"{firstFile}: no scored stream in \"retrieval\"");
        int loops = anyStream["loops"]!.GetValue<int>(), batch = anyStream["batch"]!.GetValue<int>();
        int n = first.PerSample.Values.FirstOrDefault()?.Length
            ?? throw new UserInputException($"{firstFile}: no \"per_sample\" hit rates");
        var draws = Model.Retrieval.Draws(n, loops, batch, retrievalSeed);
        var list = new List<PerImageRun>();
        foreach (var (run, file, model) in runs)
        {
            var hits = new Dictionary<string, int[]>(StringComparer.Ordinal);
            foreach (var (name, key) in EvidenceMetrics.All)
            {
                double? top1 = EvidenceMetrics.StudyTop1(run.Retrieval, key);
                if (top1 is null) continue;
                if (!run.PerSample.TryGetValue(key, out var rates))
                    throw new UserInputException($"{file}: per_sample.{key} missing (its top-1 is reported)");
                var stream = (JsonObject)run.Retrieval[key.Split('.')[0]]!;
                if (rates.Length != n || stream["loops"]!.GetValue<int>() != loops ||
                    stream["batch"]!.GetValue<int>() != batch)
                    throw new UserInputException(
                        $"{file}: {key} has {rates.Length} images, {stream["loops"]} loops of {stream["batch"]}; " +
                        $"{firstFile} has {n}, {loops} of {batch} (one study scores every run alike)");
                hits[name] = HitCounts(rates, draws, top1.Value, $"{file}: per_sample.{key}", retrievalSeed);
            }
            list.Add(new PerImageRun(model, run.Size, run.Seed, hits));
        }
        return new PerImageFile
        {
            Subject = subject,
            Retrieval = new RetrievalSettings(loops, batch, retrievalSeed),
            Appearances = draws,
            Runs = list.OrderBy(r => r.NTrain).ThenBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.TrainSeed)
                .ToList(),
        };
    }

    static int[] HitCounts(double[] rates, int[] draws, double top1, string what, long seed)
    {
        var hits = new int[rates.Length];
        long sumHits = 0, sumDraws = 0;
        for (int i = 0; i < rates.Length; i++)
        {
            if (draws[i] == 0)
            {
                if (!double.IsNaN(rates[i]))
                    throw new UserInputException($"{what}: image {i} has rate {rates[i]} but no loop drew it with " +
                        $"retrieval seed {seed} (give the retrieval seed the study scored with)");
                continue;
            }
            double h = rates[i] * draws[i];
            int r = (int)Math.Round(h);
            if (!double.IsFinite(h) || Math.Abs(h - r) > 1e-6 || r < 0 || r > draws[i])
                throw new UserInputException($"{what}: image {i}'s rate {rates[i]} is not k/{draws[i]} (the " +
                    $"appearances of retrieval seed {seed}; give the retrieval seed the study scored with)");
            hits[i] = r; sumHits += r; sumDraws += draws[i];
        }
        double derived = (double)sumHits / sumDraws;
        if (Math.Abs(derived - top1) > 1e-9)
            throw new UserInputException($"{what}: per-image hits give top-1 {derived}, the run reports {top1}");
        return hits;
    }

    public JsonObject ToJson()
    {
        bool csv = Appearances.Max() > 35;
        var runs = new JsonArray();
        foreach (var r in Runs)
        {
            var h = new JsonObject();
            foreach (var m in EvidenceMetrics.Names)
                if (r.Hits.TryGetValue(m, out var v)) h[m] = Encode(v, csv);
            runs.Add(new JsonObject
            {
                ["model"] = r.Model,
                ["n_train"] = r.NTrain,
                ["train_seed"] = r.TrainSeed,
                ["hits"] = h,
            });
        }
        return new JsonObject
        {
            ["subject"] = Subject,
            ["test_samples"] = TestSamples,
            ["retrieval"] = new JsonObject
            {
                ["loops"] = Retrieval.Loops,
                ["batch"] = Retrieval.Batch,
                ["seed"] = Retrieval.Seed,
            },
            ["encoding"] = csv ? "csv" : "base36",
            ["appearances"] = Encode(Appearances, csv),
            ["runs"] = runs,
        };
    }

    public static PerImageFile Read(string path)
    {
        var o = EvidenceCollector.ReadObject(path);
        try
        {
            bool csv = o["encoding"]!.GetValue<string>() switch
            {
                "csv" => true,
                "base36" => false,
                var e => throw new UserInputException($"{path}: encoding '{e}' (expected base36 or csv)"),
            };
            var app = Decode(o["appearances"]!.GetValue<string>(), csv, path);
            var runs = new List<PerImageRun>();
            foreach (var r in o["runs"]!.AsArray())
            {
                var hits = new Dictionary<string, int[]>(StringComparer.Ordinal);
                foreach (var (k, v) in r!["hits"]!.AsObject())
                {
                    var h = Decode(v!.GetValue<string>(), csv, path);
                    if (h.Length != app.Length || h.Where((x, i) => x > app[i]).Any())
                        throw new UserInputException($"{path}: hits.{k} of a run do not fit the appearances");
                    hits[k] = h;
                }
                runs.Add(new PerImageRun(r["model"]!.GetValue<string>(), r["n_train"]!.GetValue<int>(),
                    r["train_seed"]!.GetValue<int>(), hits));
            }
            var rs = o["retrieval"]!;
            return new PerImageFile
            {
                Subject = o["subject"]!.GetValue<int>(),
                Retrieval = new RetrievalSettings(rs["loops"]!.GetValue<int>(), rs["batch"]!.GetValue<int>(),
                    rs["seed"]!.GetValue<long>()),
                Appearances = app,
                Runs = runs,
            };
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        { throw new UserInputException($"{path}: not a per-image evidence file ({e.Message})"); }
    }

    const string Digits = "0123456789abcdefghijklmnopqrstuvwxyz";

    static string Encode(int[] v, bool csv)
    {
        if (csv) return string.Join(",", v);
        var sb = new StringBuilder(v.Length);
        foreach (int x in v) sb.Append(Digits[x]);
        return sb.ToString();
    }

    static int[] Decode(string s, bool csv, string path)
    {
        if (csv) return s.Split(',').Select(int.Parse).ToArray();
        return s.Select(c => Digits.IndexOf(c) is var d and >= 0 ? d
            : throw new UserInputException($"{path}: '{c}' is not a base-36 digit")).ToArray();
    }
}
