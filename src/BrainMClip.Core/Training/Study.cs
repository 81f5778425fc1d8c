using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// What the study trains: the learning curve (every size × seed, ridge and the network) and the ablations.
/// </summary>
public sealed record StudyOptions
{
    public required BrainMClipConfig Network { get; init; }
    /// <summary>Training-set sizes of the learning curve; each is a seeded random subset of the train split.</summary>
    public required IReadOnlyList<int> Sizes { get; init; }
    public int Seeds { get; init; } = 3;
    /// <summary>
    /// Matched baselines (<see cref="AblationRunner.Baselines"/>) trained at every size and seed beside ridge and the
    /// network. Default none.
    /// </summary>
    public IReadOnlyList<string> Baselines { get; init; } = [];
    /// <summary>Ablation variants trained at the largest size (see <see cref="AblationRunner.Variants"/>).</summary>
    public IReadOnlyList<string> Ablations { get; init; } = Study.DefaultAblations;
    /// <summary>
    /// Seeds of each ablation (at most <see cref="Seeds"/>; they reuse the learning curve's full/ridge runs).
    /// </summary>
    public int AblationSeeds { get; init; } = 1;
    public RetrievalSettings Retrieval { get; init; } = new();
    public int BootstrapResamples { get; init; } = 2000;
    public TextWriter? Log { get; init; } = Console.Error;
}

/// <summary>
/// One finished run of the study (stored as RUN/result.json, which also marks it done for resumption).
/// </summary>
public sealed record StudyRun(int Size, int Seed, string Variant, double TrainSeconds, JsonObject Retrieval,
    Dictionary<string, double[]> PerSample)
{
    public string Key => $"n{Size}/seed{Seed}/{Variant}";

    public JsonObject ToJson(bool withPerSample)
    {
        var o = new JsonObject
        {
            ["size"] = Size,
            ["seed"] = Seed,
            ["variant"] = Variant,
            ["train_seconds"] = TrainSeconds,
            ["retrieval"] = Retrieval.DeepClone(),
        };
        if (withPerSample)
        {
            var p = new JsonObject();
            foreach (var (k, v) in PerSample)
                p[k] = new JsonArray(v.Select(x => (JsonNode?)(double.IsFinite(x) ? x : null)).ToArray());
            o["per_sample"] = p;
        }
        return o;
    }

    public static StudyRun FromJson(JsonObject o)
    {
        var per = new Dictionary<string, double[]>(StringComparer.Ordinal);
        if (o["per_sample"] is JsonObject p)
            foreach (var (k, v) in p)
                per[k] = v!.AsArray().Select(x => x is null ? double.NaN : x.GetValue<double>()).ToArray();
        return new StudyRun(o["size"]!.GetValue<int>(), o["seed"]!.GetValue<int>(), o["variant"]!.GetValue<string>(),
            o["train_seconds"]!.GetValue<double>(), (JsonObject)o["retrieval"]!.DeepClone(), per);
    }
}

/// <summary>
/// `brainmclip study`: trains ridge and the network on every training-set size and seed (the learning curve) and
/// every ablation at the largest size, scores test retrieval per stream and direction, and writes results.json,
/// results.csv and the plots (<see cref="StudyReport"/>). Each run lives in OUT/runs/n{size}/seed{s}/{variant}/; a
/// finished run has result.json and is skipped when the command is run again (a network run that was interrupted
/// continues from its last checkpoint), so the study is resumable.
/// </summary>
public static class Study
{
    public static readonly IReadOnlyList<string> DefaultAblations =
    [
        "no_cross", "no_rec", "global_only", "token_only", "semantic_only", "detail_only", "no_split",
        "final_layer_only",
    ];

    public static JsonObject Run(NsdSubject subject, string featuresTrain, string featuresTest, StudyOptions o,
        string outDir)
    {
        var log = o.Log;
        using var train = FeatureStore.Open(featuresTrain);
        using var test = FeatureStore.Open(featuresTest);
        if (train.Rows != subject.TrainSamples)
            throw new UserInputException(
                $"{featuresTrain}: {train.Rows} rows but {subject.TrainSamples} training samples");
        if (test.Rows != subject.TestSamples)
            throw new UserInputException($"{featuresTest}: {test.Rows} rows but {subject.TestSamples} test samples");
        foreach (int size in o.Sizes)
            if (size < 4 || size > subject.TrainSamples)
                throw UserInputException.Invalid("Sizes",
                    $"training-set size {size} is not between 4 and the {subject.TrainSamples} training samples");
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "network_config.json"), o.Network.ToJson() + "\n");
        using var d = subject.LoadStream("train", VoxelStream.Detail);
        using var s = subject.LoadStream("train", VoxelStream.Semantic);
        using var td = subject.LoadStream("test", VoxelStream.Detail);
        using var ts = subject.LoadStream("test", VoxelStream.Semantic);
        int largest = o.Sizes.Max();
        var plan = new List<(int size, int seed, string variant)>();
        foreach (int size in o.Sizes.Distinct().Order())
            for (int seed = 0; seed < o.Seeds; seed++)
            {
                plan.Add((size, seed, "ridge"));
                plan.Add((size, seed, "full"));
                foreach (var b in o.Baselines) plan.Add((size, seed, b));
            }
        for (int seed = 0; seed < Math.Min(o.AblationSeeds, o.Seeds); seed++)
            foreach (var v in o.Ablations) plan.Add((largest, seed, v));

        var runs = new List<StudyRun>();
        var clock = Stopwatch.StartNew();
        foreach (var (size, seed, variant) in plan)
        {
            string runDir = Path.Combine(outDir, "runs", $"n{size}", $"seed{seed}", variant);
            string resultPath = Path.Combine(runDir, "result.json");
            if (File.Exists(resultPath))
            {
                runs.Add(StudyRun.FromJson((JsonObject)JsonNode.Parse(File.ReadAllText(resultPath))!));
                continue;
            }
            log?.WriteLine($"== study {runs.Count + 1}/{plan.Count}: n {size}, seed {seed}, {variant} " +
                           $"({clock.Elapsed.TotalMinutes:0.0} min so far)");
            var run = ReuseDeterministic(outDir, size, seed, variant, subject.TrainSamples)
                      ?? TrainOne(size, seed, variant, o, d, s, td, ts, train, test, runDir);
            AtomicFile.WriteAllText(resultPath, run.ToJson(withPerSample: true).ToJsonString() + "\n");
            runs.Add(run);
        }
        return StudyReport.Write(outDir, o, runs, subject.TestSamples);
    }

    /// <summary>
    /// A ridge variant trained on all rows does not depend on the seed (the subset is every row and the closed form
    /// has no randomness), so seeds after 0 take seed 0's result, relabelled, instead of refitting.
    /// </summary>
    static StudyRun? ReuseDeterministic(string outDir, int size, int seed, string variant, long trainSamples)
    {
        if (seed == 0 || size < trainSamples || !AblationRunner.IsRidgeVariant(variant)) return null;
        string first = Path.Combine(outDir, "runs", $"n{size}", "seed0", variant, "result.json");
        if (!File.Exists(first)) return null;
        var run = StudyRun.FromJson((JsonObject)JsonNode.Parse(File.ReadAllText(first))!);
        return run with { Seed = seed };
    }

    /// <summary>The seeded training subset of one learning-curve point (all rows at full size), sorted.</summary>
    public static Tensor Subset(long total, int size, int seed)
    {
        if (size >= total) return arange(total);
        using var g = new Generator(1_000_003UL + (ulong)seed);
        return randperm(total, generator: g).narrow(0, 0, size).sort().Values;
    }

    static StudyRun TrainOne(int size, int seed, string variant, StudyOptions o, Tensor d, Tensor s, Tensor td,
        Tensor ts, FeatureStore train, FeatureStore test, string runDir)
    {
        using var scope = NewDisposeScope();
        var rows = Subset(d.shape[0], size, seed);
        var dSub = d.index_select(0, rows);
        var sSub = s.index_select(0, rows);
        // Z-scored with the statistics of the rows the run trains on, as `train` does on its data.
        var zd = ZScore.Fit(dSub);
        var zs = ZScore.Fit(sSub);
        using var streams = new TrainingPipeline.Streams(zd.Apply(dSub), zs.Apply(sSub), zd, zs);
        var testD = zd.Apply(td);
        var testS = zs.Apply(ts);
        using var features = train.Select(rows);
        var cfg = o.Network with { Training = o.Network.Training with { Seed = seed } };
        var data = new TrainingData(streams.Detail, streams.Semantic, features);
        var result = AblationRunner.TrainAndScore(variant, cfg, data, testD, testS, test, runDir, o.Retrieval, o.Log,
            dir => streams.SaveStats(new RunFolder(dir).ZScorePath), resume: true);
        var retrieval = result.ToJson();
        retrieval.Remove("variant"); retrieval.Remove("train_seconds");
        var per = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (stream, (_, p)) in result.Streams)
        {
            per[$"{stream}.image_to_brain"] = p.ImageToBrain;
            per[$"{stream}.brain_to_image"] = p.BrainToImage;
        }
        string secs = result.TrainSeconds.ToString("0", CultureInfo.InvariantCulture);
        o.Log?.WriteLine($"   {variant} n {size} seed {seed}: {retrieval.ToJsonString()} ({secs} s)");
        return new StudyRun(size, seed, variant, result.TrainSeconds, retrieval, per);
    }
}
