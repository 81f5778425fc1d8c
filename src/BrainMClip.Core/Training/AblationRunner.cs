using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// Trains every ablation variant (docs/model.md) (and the ridge baseline) the same way — same data, split, seed and
/// schedule — predicts the test split and scores retrieval, writing ablations.json and ablations.csv.
/// </summary>
public static class AblationRunner
{
    public static readonly IReadOnlyList<string> Variants =
        ["full", "no_cross", "no_rec", "semantic_only", "detail_only", "global_only", "full_heads", "ridge"];

    /// <summary>The configuration of one variant derived from <paramref name="baseConfig"/>.</summary>
    public static BrainMClipConfig VariantConfig(BrainMClipConfig baseConfig, string variant)
    {
        var a = new AblationSection();
        var c = baseConfig with { Ablation = a, Kind = "brainmclip" };
        return variant switch
        {
            "full" => c,
            "no_cross" => c with { Ablation = a with { NoCross = true } },
            "no_rec" => c with { Ablation = a with { NoRec = true } },
            "semantic_only" => c with { Ablation = a with { SemanticOnly = true } },
            "detail_only" => c with { Ablation = a with { DetailOnly = true } },
            "global_only" => c with { Ablation = a with { GlobalOnly = true } },
            "full_heads" => c with { Ablation = a with { FullHeads = true } },
            "ridge" => c with { Kind = "ridge" },
            _ =>
                throw new UserInputException(
                $"unknown ablation variant '{variant}' (expected {string.Join(", ", Variants)})"),
        } with
        { Name = $"{baseConfig.Name}:{variant}" };
    }

    /// <param name="prepareRun">Called with each run folder before training (e.g. to save the z-score
    /// statistics).</param>
    public static JsonObject Run(BrainMClipConfig baseConfig, TrainingData train, Tensor testDetail,
        Tensor testSemantic,
        FeatureStore testFeatures, string outDir, IEnumerable<string>? variants = null, int loops = 30, int batch = 300,
        long retrievalSeed = 42, TextWriter? log = null, Action<string>? prepareRun = null)
    {
        var list = (variants ?? Variants).ToList();
        Directory.CreateDirectory(outDir);
        using var scope = NewDisposeScope();
        var eD = testFeatures.AllDetail();
        var eS = testFeatures.AllSemantic();
        var rows = new JsonArray();
        foreach (var v in list)
        {
            var cfg = VariantConfig(baseConfig, v);
            string runDir = Path.Combine(outDir, v);
            log?.WriteLine($"== ablation '{v}' → {runDir}");
            if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
            Directory.CreateDirectory(runDir);
            prepareRun?.Invoke(runDir);
            var started = DateTime.UtcNow;
            if (cfg.IsRidge) RidgeBaseline.Train(cfg, train, runDir, log);
            else Trainer.Train(cfg, train, runDir, new TrainOptions { Log = log, ProgressBar = log is not null });
            double seconds = (DateTime.UtcNow - started).TotalSeconds;
            using var predictor = Predictor.Open(runDir, log);
            using var pred = predictor.Predict(testDetail, testSemantic);
            pred.Save(Path.Combine(runDir, "pred_test.safetensors"));
            var row = new JsonObject { ["variant"] = v, ["train_seconds"] = seconds };
            foreach (var (stream, p, y) in new[] { ("semantic", pred.Semantic, eS), ("detail", pred.Detail, eD) })
            {
                if (p is null) { row[stream] = null; continue; }
                row[stream] = Retrieval.Compute(p, y, loops, batch, retrievalSeed).ToJson();
            }
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
