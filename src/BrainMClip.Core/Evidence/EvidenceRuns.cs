using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Evidence;

/// <summary>
/// One run of the evidence table (ROOT/results.json "runs"): a model trained on one subject (world seed) with one
/// training seed and size, its test retrieval top-1 (the loop means `study` reports; null for a stream the model has
/// not) and its training time.
/// </summary>
public sealed record EvidenceRun(int Subject, int TrainSeed, string Model, int NTrain,
    IReadOnlyDictionary<string, double?> Top1, double TrainSeconds)
{
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["subject"] = Subject,
            ["train_seed"] = TrainSeed,
            ["model"] = Model,
            ["n_train"] = NTrain,
        };
        foreach (var m in EvidenceMetrics.Names) o[m] = Top1.TryGetValue(m, out var v) ? v : null;
        o["train_seconds"] = Math.Round(TrainSeconds, 1);
        return o;
    }

    public static EvidenceRun FromJson(JsonObject o, string file)
    {
        int Int(string k) => o[k] is JsonValue v && v.TryGetValue(out int x) ? x
            : throw new UserInputException($"{file}: a run's \"{k}\" is missing or not an integer");
        var top = new Dictionary<string, double?>(StringComparer.Ordinal);
        foreach (var m in EvidenceMetrics.Names) top[m] = o[m]?.GetValue<double>();
        return new EvidenceRun(Int("subject"), Int("train_seed"),
            o["model"]?.GetValue<string>() ?? throw new UserInputException($"{file}: a run has no \"model\""),
            Int("n_train"), top, o["train_seconds"]?.GetValue<double>() ?? 0);
    }

    /// <summary>The table's order: subject, n_train, model (ordinal), train_seed.</summary>
    public static IEnumerable<EvidenceRun> Sorted(IEnumerable<EvidenceRun> runs) => runs.OrderBy(r => r.Subject)
        .ThenBy(r => r.NTrain).ThenBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.TrainSeed);
}

/// <summary>The four retrieval figures of a run: stream × direction, as named in the evidence files.</summary>
public static class EvidenceMetrics
{
    /// <summary>Evidence name → the `study` per-sample key (StudyReport.Metrics).</summary>
    public static readonly IReadOnlyList<(string Name, string StudyKey)> All =
    [
        ("semantic_b2i", "semantic.brain_to_image"), ("detail_b2i", "detail.brain_to_image"),
        ("semantic_i2b", "semantic.image_to_brain"), ("detail_i2b", "detail.image_to_brain"),
    ];

    public static IEnumerable<string> Names => All.Select(x => x.Name);

    /// <summary>The run's loop-mean top-1 of one study key from result.json's "retrieval", or null.</summary>
    public static double? StudyTop1(JsonObject retrieval, string studyKey)
    {
        var parts = studyKey.Split('.');
        return retrieval[parts[0]] is JsonObject s ? s[parts[1] + "_top1"]!.GetValue<double>() : null;
    }
}

/// <summary>
/// `brainmclip evidence collect`: merges one subject's `study` folder into the evidence table. Writes
/// OUT/results.json (<c>{"runs": [...]}</c>, every subject's runs, sorted; re-collecting a subject replaces its runs)
/// and OUT/per_image/subject{S}.json (<see cref="PerImageFile"/>: appearances once, each run's hit counts).
/// </summary>
public static class EvidenceCollector
{
    public sealed record Result(int Subject, int Runs, int TotalRuns, IReadOnlyList<string> Models, long PerImageBytes);

    /// <summary>Model name of a study variant: `full` is the network (its config's name), `no_split` and the other
    /// ablations are the network's name + _variant, the baselines keep their variant name.</summary>
    public static string ModelName(string network, string variant) => variant switch
    {
        "full" => network,
        "ridge" or "ridge_retrieval_alpha" or "ridge_no_split" or "linear" => variant,
        _ => $"{network}_{variant}",
    };

    public static Result Collect(string studyDir, int subject, string outDir, long? retrievalSeed = null,
        TextWriter? log = null)
    {
        if (!Directory.Exists(studyDir)) throw new UserInputException($"study folder {studyDir}: not found");
        string network = NetworkName(studyDir);
        long seed = retrievalSeed ?? StudySeed(studyDir) ?? new RetrievalSettings().Seed;
        var runs = ReadRuns(studyDir);
        if (runs.Count == 0)
            throw new UserInputException($"study folder {studyDir}: no finished run (runs/n*/seed*/*/result.json)");
        var perImage = PerImageFile.FromStudyRuns(subject, seed, runs.Select(r => (r.Run, r.File,
            ModelName(network, r.Run.Variant))).ToList());
        var table = new List<EvidenceRun>();
        foreach (var (run, _) in runs)
        {
            var top = EvidenceMetrics.All.ToDictionary(m => m.Name,
                m => EvidenceMetrics.StudyTop1(run.Retrieval, m.StudyKey), StringComparer.Ordinal);
            table.Add(new EvidenceRun(subject, run.Seed, ModelName(network, run.Variant), run.Size, top,
                run.TrainSeconds));
        }
        Directory.CreateDirectory(Path.Combine(outDir, "per_image"));
        string resultsPath = Path.Combine(outDir, "results.json");
        var kept = File.Exists(resultsPath) ? ReadTable(resultsPath).Where(r => r.Subject != subject).ToList() : [];
        var all = EvidenceRun.Sorted(kept.Concat(table)).ToList();
        WriteTable(resultsPath, all);
        string perPath = PerImageFile.PathFor(outDir, subject);
        AtomicFile.WriteAllText(perPath, perImage.ToJson().ToJsonString() + "\n");
        log?.WriteLine($"evidence collect: subject {subject}: {table.Count} runs from {studyDir} → {resultsPath}");
        return new Result(subject, table.Count, all.Count,
            table.Select(r => r.Model).Distinct().Order(StringComparer.Ordinal).ToList(), new FileInfo(perPath).Length);
    }

    public static List<EvidenceRun> ReadTable(string path)
    {
        var root = ReadObject(path);
        if (root["runs"] is not JsonArray runs)
            throw new UserInputException($"{path}: expected {{\"runs\": [...]}}");
        return runs.Select(r => EvidenceRun.FromJson(r as JsonObject
            ?? throw new UserInputException($"{path}: a run is not an object"), path)).ToList();
    }

    static void WriteTable(string path, IReadOnlyList<EvidenceRun> runs)
    {
        var root = new JsonObject
        {
            ["about"] = "One object per run: subject = world seed, train_seed = the study's seed (training subset, " +
                "initialisation, batch order), top-1 = test retrieval loop means; per-image hit counts in " +
                "per_image/subject{S}.json (written by brainmclip evidence collect).",
            ["runs"] = new JsonArray(runs.Select(r => (JsonNode?)r.ToJson()).ToArray()),
        };
        AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    internal static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: file not found");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new UserInputException($"{path}: expected a JSON object");
        }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
    }

    static string NetworkName(string studyDir)
    {
        string path = Path.Combine(studyDir, "network_config.json");
        return ReadObject(path)["name"]?.GetValue<string>() is { Length: > 0 } name ? name
            : throw new UserInputException($"{path}: \"name\" missing (the network's configuration name)");
    }

    /// <summary>The retrieval seed the study scored with (results.json; a partly finished study has none).</summary>
    static long? StudySeed(string studyDir)
    {
        string path = Path.Combine(studyDir, "results.json");
        return File.Exists(path) ? ReadObject(path)["retrieval"]?["seed"]?.GetValue<long>() : null;
    }

    static List<(StudyRun Run, string File)> ReadRuns(string studyDir)
    {
        string runsDir = Path.Combine(studyDir, "runs");
        if (!Directory.Exists(runsDir)) return [];
        var files = Directory.EnumerateFiles(runsDir, "result.json", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).ToList();
        var list = new List<(StudyRun, string)>();
        foreach (var f in files)
        {
            try { list.Add((StudyRun.FromJson(ReadObject(f)), f)); }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
            { throw new UserInputException($"{f}: not a study run result ({e.Message})"); }
        }
        return list;
    }

    internal static string Invariant(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
