using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Training;


/// <summary>
/// Brain-Diffuser-style baseline: closed-form ridge regression per stream from z-scored voxels to the flattened
/// target tokens. Alpha is chosen from a grid by k-fold cross-validation on the training split (score: mean cosine
/// between predicted and true flattened tokens of the held-out fold, the quantity retrieval depends on). Each solve
/// uses the eigendecomposition of XᵀX (primal, when voxels ≤ samples) or XXᵀ (dual, otherwise) in float64, so all
/// alphas of a fold share one decomposition. The fusion map P (e_D → e_S, token-wise) is a ridge fit as well.
/// </summary>
public static class RidgeBaseline
{
    public static TrainResult Train(BrainMClipConfig cfg, TrainingData data, string runDir, TextWriter? log = null,
        Action<RunFolder>? prepareRun = null)
    {
        if (!cfg.IsRidge) throw new ArgumentException("not a ridge configuration");
        data.Validate();
        var run = new RunFolder(runDir);
        using var runLock = run.Lock();
        cfg = data.Configure(cfg);
        Directory.CreateDirectory(run.Root);
        AtomicFile.WriteAllText(run.ConfigPath, cfg.ToJson() + "\n");
        prepareRun?.Invoke(run);

        using var scope = NewDisposeScope();
        var eD = data.Features.AllDetail();
        var eS = data.Features.AllSemantic();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["config"] = cfg.ToJson() };
        var metrics = new List<JsonObject>();
        foreach (var (name, x, y) in new[] { ("detail", data.Detail, eD), ("semantic", data.Semantic, eS) })
        {
            log?.WriteLine(
                $"ridge {name}: {x.shape[0]} samples, {x.shape[1]} voxels → {y.shape[1]}×{y.shape[2]} tokens; " +
                $"{cfg.Ridge.Folds}-fold CV over {cfg.Ridge.Alphas.Length} alphas");
            var map = cfg.Ridge.SelectByValidationRetrieval
                ? FitByValidationRetrieval(cfg, x, y.flatten(1), log, name)
                : Ridge.Fit(x, y.flatten(1), cfg.Ridge.Alphas, cfg.Ridge.Folds, cfg.Training.Seed, log, name);
            tensors[$"{name}.weight"] = map.Weight; tensors[$"{name}.bias"] = map.Bias;
            meta[$"{name}.alpha"] = map.Alpha.ToString("R", CultureInfo.InvariantCulture);
            var line = new JsonObject { ["stream"] = name, ["alpha"] = map.Alpha };
            var cv = new JsonObject();
            foreach (var (a, s) in map.CvScores) cv[a.ToString("R", CultureInfo.InvariantCulture)] = s;
            line[cfg.Ridge.SelectByValidationRetrieval ? "validation_top1" : "cv_cosine"] = cv;
            metrics.Add(line);
        }
        // Fusion map P fitted token-wise on ground-truth pairs (every token of every sample is one observation).
        var fusion = Ridge.SolvePrimal(eD.reshape(-1, eD.shape[2]), eS.reshape(-1, eS.shape[2]), cfg.Ridge.FusionAlpha);
        tensors["fusion.weight"] = fusion.weight; tensors["fusion.bias"] = fusion.bias;
        meta["voxels_detail"] = data.Detail.shape[1].ToString(CultureInfo.InvariantCulture);
        meta["voxels_semantic"] = data.Semantic.shape[1].ToString(CultureInfo.InvariantCulture);
        SafeTensors.Save(run.RidgePath, tensors, meta);
        MetricsLog.Write(run.MetricsPath, metrics);
        return new TrainResult(1, 0, double.NaN, 1, run.Root, false, metrics);
    }

    /// <summary>
    /// ridge.select_by "validation_retrieval": the network's own validation split (training.val_fraction and seed,
    /// <see cref="TrainSplit.Draw"/>) and its retrieval rule (mean of both directions' top-1 over all validation rows
    /// in one batch), so the baseline's alpha is chosen by the quantity the network's checkpoint is chosen by.
    /// </summary>
    static RidgeMap FitByValidationRetrieval(BrainMClipConfig cfg, Tensor x, Tensor y, TextWriter? log, string name)
    {
        using var split = TrainSplit.Draw(x.shape[0], cfg.Training);
        if (split.Validation < 2)
            throw new UserInputException(
                $"ridge.select_by validation_retrieval needs at least 2 validation rows; training.val_fraction " +
                $"{cfg.Training.ValFraction} of {x.shape[0]} samples gives {split.Validation}");
        int n = (int)split.Validation;
        return Ridge.FitByValidation(x, y, cfg.Ridge.Alphas, split.TrainRows, split.ValidationRows, (p, t) =>
        {
            var r = Retrieval.Compute(p, t, loops: 1, batch: n, seed: 0);
            return (r.ImageToBrainTop1 + r.BrainToImageTop1) / 2;
        }, log, name);
    }

}
