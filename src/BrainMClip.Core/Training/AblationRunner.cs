using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>Retrieval settings shared by every scored variant (docs/evaluation.md: 30 loops of 300-way
/// batches).</summary>
public sealed record RetrievalSettings(int Loops = 30, int Batch = 300, long Seed = 42);

/// <summary>One trained and scored variant: retrieval per stream (absent when ablated) and per test sample.</summary>
public sealed record VariantResult(string Variant, double TrainSeconds,
    IReadOnlyDictionary<string, (RetrievalResult Summary, PerSampleRetrieval PerSample)> Streams)
{
    public JsonObject ToJson()
    {
        var row = new JsonObject { ["variant"] = Variant, ["train_seconds"] = TrainSeconds };
        foreach (var stream in new[] { "semantic", "detail" })
        {
            if (!Streams.TryGetValue(stream, out var r)) { row[stream] = null; continue; }
            row[stream] = new JsonObject
            {
                ["image_to_brain_top1"] = r.Summary.ImageToBrainTop1,
                ["brain_to_image_top1"] = r.Summary.BrainToImageTop1,
                ["loops"] = r.Summary.Loops,
                ["batch"] = r.Summary.Batch,
            };
        }
        return row;
    }
}

/// <summary>
/// Trains every ablation variant (and the ridge baseline) the same way — same data, split, seed and
/// schedule — predicts the test split and scores retrieval, writing ablations.json and ablations.csv.
/// Variants are either configuration switches (docs/model.md) or data changes: <c>no_split</c> gives both encoders all
/// voxels (the detail stream's, i.e. every nsdgeneral voxel) instead of the ROI split; <c>final_layer_only</c> trains
/// the detail stream towards the final CLIP layer too (the semantic target), i.e. no intermediate-layer target.
/// </summary>
public static class AblationRunner
{
    public static readonly IReadOnlyList<string> Variants =
    [
        "full", "no_cross", "no_rec", "semantic_only", "detail_only", "global_only", "token_only", "full_heads",
        "no_split", "final_layer_only", "ridge", "linear", "ridge_retrieval_alpha", "ridge_no_split",
    ];

    /// <summary>
    /// Variants that are matched baselines rather than ablations (docs/evidence.md): <c>linear</c> is the network with
    /// a linear encoder (no hidden layer, no decoders, hence no cross-reconstruction) and the same loss, schedule and
    /// checkpoint rule; <c>ridge_retrieval_alpha</c> is ridge with alpha chosen by validation retrieval;
    /// <c>ridge_no_split</c> is ridge whose semantic stream reads all nsdgeneral voxels (as <c>no_split</c> for the
    /// network).
    /// </summary>
    public static readonly IReadOnlyList<string> Baselines =
        ["ridge_retrieval_alpha", "linear", "no_split", "ridge_no_split"];

    /// <summary>Whether a variant is the closed-form ridge (deterministic given its training rows).</summary>
    public static bool IsRidgeVariant(string variant) => variant.StartsWith("ridge", StringComparison.Ordinal);

    /// <summary>The configuration of one variant derived from <paramref name="baseConfig"/>.</summary>
    public static BrainMClipConfig VariantConfig(BrainMClipConfig baseConfig, string variant)
    {
        var a = new AblationSection();
        var c = baseConfig with { Ablation = a, Kind = "brainmclip" };
        return variant switch
        {
            "full" or "no_split" or "final_layer_only" => c,
            "no_cross" => c with { Ablation = a with { NoCross = true } },
            "no_rec" => c with { Ablation = a with { NoRec = true } },
            "semantic_only" => c with { Ablation = a with { SemanticOnly = true } },
            "detail_only" => c with { Ablation = a with { DetailOnly = true } },
            "global_only" => c with { Ablation = a with { GlobalOnly = true } },
            "token_only" => c with { Ablation = a with { TokenOnly = true } },
            "full_heads" => c with { Ablation = a with { FullHeads = true } },
            "ridge" or "ridge_no_split" => c with { Kind = "ridge" },
            "ridge_retrieval_alpha" => c with
            {
                Kind = "ridge",
                Ridge = c.Ridge with { SelectBy = "validation_retrieval" },
            },
            "linear" => c with
            {
                Model = c.Model with { Encoder = "linear" },
                Loss = c.Loss with { WRec = 0, WCross = 0 },
            },
            _ =>
                throw new UserInputException(
                $"unknown ablation variant '{variant}' (expected {string.Join(", ", Variants)})"),
        } with
        { Name = $"{baseConfig.Name}:{variant}" };
    }

    /// <summary>
    /// Trains <paramref name="variant"/> into <paramref name="runDir"/>, predicts the test split, saves
    /// <c>pred_test.safetensors</c> and scores retrieval per stream. With <paramref name="resume"/> a network run
    /// already started in <paramref name="runDir"/> continues from its last checkpoint; otherwise the folder is
    /// recreated.
    /// </summary>
    public static VariantResult TrainAndScore(string variant, BrainMClipConfig baseConfig, TrainingData train,
        Tensor testDetail, Tensor testSemantic, FeatureStore testFeatures, string runDir, RetrievalSettings retrieval,
        TextWriter? log = null, Action<string>? prepareRun = null, bool resume = false, Device? device = null)
    {
        var cfg = VariantConfig(baseConfig, variant);
        bool noSplit = variant is "no_split" or "ridge_no_split", finalLayer = variant == "final_layer_only";
        using var trainFeatures = finalLayer ? train.Features.DetailFromSemantic() : null;
        var data = new TrainingData(train.Detail, noSplit ? train.Detail : train.Semantic, trainFeatures
            ?? train.Features);
        bool continuing = resume && !cfg.IsRidge && File.Exists(new RunFolder(runDir).ConfigPath);
        if (!continuing && Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        Directory.CreateDirectory(runDir);
        prepareRun?.Invoke(runDir);
        var started = DateTime.UtcNow;
        if (cfg.IsRidge) RidgeBaseline.Train(cfg, data, runDir, log);
        else Trainer.Train(cfg, data, runDir,
            new TrainOptions { Log = log, ProgressBar = log is not null, Resume = continuing, Device = device });
        double seconds = (DateTime.UtcNow - started).TotalSeconds;
        using var scope = NewDisposeScope();
        using var predictor = Predictor.Open(runDir, log, device);
        using var pred = predictor.Predict(testDetail, noSplit ? testDetail : testSemantic);
        pred.Save(Path.Combine(runDir, "pred_test.safetensors"));
        var truthS = testFeatures.AllSemantic();
        var truthD = finalLayer ? truthS : testFeatures.AllDetail();
        var streams = new Dictionary<string, (RetrievalResult, PerSampleRetrieval)>(StringComparer.Ordinal);
        foreach (var (stream, p, y) in new[] { ("semantic", pred.Semantic, truthS), ("detail", pred.Detail, truthD) })
        {
            if (p is null) continue;
            streams[stream] = (Retrieval.Compute(p, y, retrieval.Loops, retrieval.Batch, retrieval.Seed),
                Retrieval.PerSample(p, y, retrieval.Loops, retrieval.Batch, retrieval.Seed));
        }
        return new VariantResult(variant, seconds, streams);
    }

    /// <param name="prepareRun">Called with each run folder before training (e.g. to save the z-score
    /// statistics).</param>
    public static JsonObject Run(BrainMClipConfig baseConfig, TrainingData train, Tensor testDetail,
        Tensor testSemantic,
        FeatureStore testFeatures, string outDir, IEnumerable<string>? variants = null, int loops = 30, int batch = 300,
        long retrievalSeed = 42, TextWriter? log = null, Action<string>? prepareRun = null, Device? device = null)
    {
        var list = (variants ?? Variants).ToList();
        Directory.CreateDirectory(outDir);
        var rows = new JsonArray();
        foreach (var v in list)
        {
            string runDir = Path.Combine(outDir, v);
            log?.WriteLine($"== ablation '{v}' → {runDir}");
            var row = TrainAndScore(v, baseConfig, train, testDetail, testSemantic, testFeatures, runDir,
                new RetrievalSettings(loops, batch, retrievalSeed), log, prepareRun, device: device).ToJson();
            rows.Add(row);
            log?.WriteLine($"   {v}: {row.ToJsonString()}");
        }
        var result = new JsonObject
        {
            ["config"] = JsonNode.Parse(baseConfig.ToJson()),
            ["test_samples"] = testDetail.shape[0],
            ["variants"] = rows,
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "ablations.json"),
            result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        AtomicFile.WriteAllText(Path.Combine(outDir, "ablations.csv"), Csv(rows));
        return result;
    }

    static string Csv(JsonArray rows)
    {
        var sb = new StringBuilder(
            "variant,semantic_image_to_brain_top1,semantic_brain_to_image_top1,detail_image_to_brain_top1,detail_brai" +
            "n_to_image_top1,train_seconds\n");
        string F(JsonNode? n, string k) => n is JsonObject o && o[k] is { } v ? v.GetValue<double>()
            .ToString("0.0000", CultureInfo.InvariantCulture) : "";
        foreach (var r in rows)
            sb.Append(CultureInfo.InvariantCulture,
                $"{r!["variant"]},{F(r["semantic"], "image_to_brain_top1")}," +
                $"{F(r["semantic"], "brain_to_image_top1")},{F(r["detail"], "image_to_brain_top1")}," +
                $"{F(r["detail"], "brain_to_image_top1")}," +
                $"{r["train_seconds"]!.GetValue<double>().ToString("0.0", CultureInfo.InvariantCulture)}\n");
        return sb.ToString();
    }
}
