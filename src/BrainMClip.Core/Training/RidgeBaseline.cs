using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>One fitted linear map x → x·W + b with the alpha chosen by cross-validation.</summary>
public sealed record RidgeMap(Tensor Weight, Tensor Bias, double Alpha, IReadOnlyDictionary<double, double> CvScores)
{
    public Tensor Apply(Tensor x) => torch.nn.functional.linear(x.to_type(ScalarType.Float32), Weight.t(), Bias);
}

/// <summary>
/// Brain-Diffuser-style baseline: closed-form ridge regression per stream from z-scored voxels to the flattened
/// target tokens. Alpha is chosen from a grid by k-fold cross-validation on the training split (score: mean cosine
/// between predicted and true flattened tokens of the held-out fold, the quantity retrieval depends on). Each solve
/// uses the eigendecomposition of XᵀX (primal, when voxels ≤ samples) or XXᵀ (dual, otherwise) in float64, so all
/// alphas of a fold share one decomposition. The fusion map P (e_D → e_S, token-wise) is a ridge fit as well.
/// </summary>
public static class RidgeBaseline
{
    const long ColumnChunk = 16384;

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
            log?.WriteLine($"ridge {name}: {x.shape[0]} samples, {x.shape[1]} voxels → {y.shape[1]}×{y.shape[2]} tokens; {cfg.Ridge.Folds}-fold CV over {cfg.Ridge.Alphas.Length} alphas");
            var map = Fit(x, y.flatten(1), cfg.Ridge.Alphas, cfg.Ridge.Folds, cfg.Training.Seed, log, name);
            tensors[$"{name}.weight"] = map.Weight; tensors[$"{name}.bias"] = map.Bias;
            meta[$"{name}.alpha"] = map.Alpha.ToString("R", CultureInfo.InvariantCulture);
            var line = new JsonObject { ["stream"] = name, ["alpha"] = map.Alpha };
            var cv = new JsonObject();
            foreach (var (a, s) in map.CvScores) cv[a.ToString("R", CultureInfo.InvariantCulture)] = s;
            line["cv_cosine"] = cv;
            metrics.Add(line);
        }
        // Fusion map P fitted token-wise on ground-truth pairs (every token of every sample is one observation).
        var fusion = SolvePrimal(eD.reshape(-1, eD.shape[2]), eS.reshape(-1, eS.shape[2]), cfg.Ridge.FusionAlpha);
        tensors["fusion.weight"] = fusion.weight; tensors["fusion.bias"] = fusion.bias;
        meta["voxels_detail"] = data.Detail.shape[1].ToString(CultureInfo.InvariantCulture);
        meta["voxels_semantic"] = data.Semantic.shape[1].ToString(CultureInfo.InvariantCulture);
        SafeTensors.Save(run.RidgePath, tensors, meta);
        MetricsLog.Write(run.MetricsPath, metrics);
        return new TrainResult(1, 0, double.NaN, 1, run.Root, false, metrics);
    }

    /// <summary>Fits x (N,V) → y (N,D) with alpha chosen by k-fold CV; returns W (V,D) float32 and b (D).</summary>
    public static RidgeMap Fit(Tensor x, Tensor y, IReadOnlyList<double> alphas, int folds, long seed, TextWriter? log = null, string label = "")
    {
        long n = x.shape[0];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var split = KFolds(n, folds, seed);
        var x64 = x.to_type(ScalarType.Float64);
        var y64 = y.to_type(ScalarType.Float64);
        var dot = zeros(alphas.Count, n, dtype: ScalarType.Float64);
        var pp = zeros(alphas.Count, n, dtype: ScalarType.Float64);
        var yy = zeros(n, dtype: ScalarType.Float64);
        foreach (var (tr, va) in split)
        {
            using var fs = NewDisposeScope();
            var xtr = x64.index_select(0, tr); var xva = x64.index_select(0, va);
            var xm = xtr.mean([0], keepdim: true);
            xtr = xtr - xm; xva = xva - xm;
            // pred(α) = L · diag(1/(s+α)) · R·Y_c, with (s, U) from the smaller Gram matrix.
            Tensor s, left, rightX;
            if (xtr.shape[1] <= xtr.shape[0])
            {
                var (ev, u) = linalg.eigh(xtr.t().mm(xtr));
                s = ev; left = xva.mm(u); rightX = u.t().mm(xtr.t());          // Uᵀ Xᵀ
            }
            else
            {
                var (ev, u) = linalg.eigh(xtr.mm(xtr.t()));
                s = ev; left = xva.mm(xtr.t()).mm(u); rightX = u.t();           // Uᵀ
            }
            s = s.clamp_min(0);
            for (long c0 = 0; c0 < y64.shape[1]; c0 += ColumnChunk)
            {
                using var cs = NewDisposeScope();
                long cn = Math.Min(ColumnChunk, y64.shape[1] - c0);
                var ytr = y64.index_select(0, tr).narrow(1, c0, cn);
                var ym = ytr.mean([0], keepdim: true);
                var yva = y64.index_select(0, va).narrow(1, c0, cn);
                var r = rightX.mm(ytr - ym);
                yy.index_add_(0, va, (yva * yva).sum(1), 1.0);
                for (int i = 0; i < alphas.Count; i++)
                {
                    var pred = (left * (1.0 / (s + alphas[i]))).mm(r) + ym;
                    dot[i].index_add_(0, va, (pred * yva).sum(1), 1.0);
                    pp[i].index_add_(0, va, (pred * pred).sum(1), 1.0);
                }
            }
        }
        var scores = new Dictionary<double, double>();
        for (int i = 0; i < alphas.Count; i++)
            scores[alphas[i]] = (dot[i] / (pp[i].sqrt() * yy.sqrt()).clamp_min(1e-30)).mean().item<double>();
        double best = scores.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
        log?.WriteLine($"ridge {label}: CV cosine " + string.Join(", ", scores.Select(kv => $"α={kv.Key:g4}: {kv.Value:0.0000}")) + $" → α={best:g4}");
        var (w, bias) = SolvePrimalOrDual(x64, y64, best);
        return new RidgeMap(w.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope(), best, scores);
    }

    /// <summary>
    /// Out-of-fold predictions (N, D) float32 with a fixed <paramref name="alpha"/>: each row predicted by the map
    /// fitted on the other folds — the same k folds <see cref="Fit"/> uses for the alpha search.
    /// </summary>
    public static Tensor OutOfFold(Tensor x, Tensor y, double alpha, int folds, long seed)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x64 = x.to_type(ScalarType.Float64);
        var y64 = y.to_type(ScalarType.Float64);
        var result = zeros(x.shape[0], y.shape[1], dtype: ScalarType.Float32);
        foreach (var (tr, va) in KFolds(x.shape[0], folds, seed))
        {
            using var fs = NewDisposeScope();
            var (w, bias) = SolvePrimalOrDual(x64.index_select(0, tr), y64.index_select(0, tr), alpha);
            result.index_copy_(0, va, nn.functional.linear(x.index_select(0, va).to_type(ScalarType.Float32), w.t(), bias));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The k (training rows, held-out rows) splits of a seeded permutation of 0..n−1.</summary>
    static (Tensor train, Tensor held)[] KFolds(long n, int folds, long seed)
    {
        if (n < folds) throw new UserInputException($"ridge: {n} training samples cannot be split into {folds} folds");
        Tensor perm;
        using (var g = new Generator((ulong)seed + 104729)) perm = randperm(n, generator: g);
        return Enumerable.Range(0, folds).Select(f =>
        {
            long a = n * f / folds, b = n * (f + 1) / folds;
            return (cat([perm.narrow(0, 0, a), perm.narrow(0, b, n - b)]), perm.narrow(0, a, b - a));
        }).ToArray();
    }

    /// <summary>Ridge solution on all rows (intercept by centring), primal or dual, whichever system is smaller.</summary>
    static (Tensor weight, Tensor bias) SolvePrimalOrDual(Tensor x64, Tensor y64, double alpha)
    {
        using var scope = NewDisposeScope();
        var xm = x64.mean([0], keepdim: true);
        var xc = x64 - xm;
        var w = zeros(x64.shape[1], y64.shape[1], dtype: ScalarType.Float32);
        var bias = zeros(y64.shape[1], dtype: ScalarType.Float32);
        Tensor solveOp;   // (V, N): W = solveOp · Y_c
        if (xc.shape[1] <= xc.shape[0])
        {
            var gram = xc.t().mm(xc) + eye(xc.shape[1], dtype: ScalarType.Float64) * alpha;
            solveOp = linalg.solve(gram, xc.t());
        }
        else
        {
            var gram = xc.mm(xc.t()) + eye(xc.shape[0], dtype: ScalarType.Float64) * alpha;
            solveOp = xc.t().mm(linalg.solve(gram, eye(xc.shape[0], dtype: ScalarType.Float64)));
        }
        for (long c0 = 0; c0 < y64.shape[1]; c0 += ColumnChunk)
        {
            using var cs = NewDisposeScope();
            long cn = Math.Min(ColumnChunk, y64.shape[1] - c0);
            var yc = y64.narrow(1, c0, cn);
            var ym = yc.mean([0], keepdim: true);
            var wc = solveOp.mm(yc - ym);
            w.narrow(1, c0, cn).copy_(wc);
            bias.narrow(0, c0, cn).copy_((ym - xm.mm(wc)).squeeze(0));
        }
        return (w.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope());
    }

    /// <summary>Ridge with fixed alpha (the fusion map): W (Cin, Cout), b (Cout).</summary>
    public static (Tensor weight, Tensor bias) SolvePrimal(Tensor x, Tensor y, double alpha)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (w, b) = SolvePrimalOrDual(x.to_type(ScalarType.Float64), y.to_type(ScalarType.Float64), alpha);
        return (w.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope());
    }
}
