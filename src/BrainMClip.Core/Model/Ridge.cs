using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>One fitted linear map x → x·W + b with the alpha chosen by cross-validation.</summary>
public sealed record RidgeMap(Tensor Weight, Tensor Bias, double Alpha, IReadOnlyDictionary<double, double> CvScores)
{
    public Tensor Apply(Tensor x) => Apply(x, Weight, Bias);

    /// <summary>x·W + b in float32: the one way a ridge map (baseline, ridge_skip, saved run) is applied.</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor bias) =>
        torch.nn.functional.linear(x.to_type(ScalarType.Float32), weight.t(), bias);
}

/// <summary>
/// Closed-form ridge regression, the one implementation the baseline, the ridge_skip path, the fusion map and the
/// simulator's ground-truth decoders share: alpha from a grid by k-fold cross-validation (score: mean cosine of the
/// held-out fold's flattened predictions), each solve through the eigendecomposition of XᵀX (primal, voxels ≤ samples)
/// or XXᵀ (dual) in float64, so all alphas of a fold share one decomposition.
/// </summary>
public static class Ridge
{
    const long ColumnChunk = 16384;

    /// <summary>Fits x (N,V) → y (N,D) with alpha chosen by k-fold CV; returns W (V,D) float32 and b (D).</summary>
    public static RidgeMap Fit(Tensor x, Tensor y, IReadOnlyList<double> alphas, int folds, long seed,
        TextWriter? log = null, string label = "")
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
            FoldScores(left, s, rightX, y64, tr, va, alphas, dot, pp, yy);
        }
        var scores = new Dictionary<double, double>();
        for (int i = 0; i < alphas.Count; i++)
            scores[alphas[i]] = (dot[i] / (pp[i].sqrt() * yy.sqrt()).clamp_min(1e-30)).mean().item<double>();
        double best = scores.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
        log?.WriteLine($"ridge {label}: CV cosine "
            + string.Join(", ", scores.Select(kv => $"α={kv.Key:g4}: {kv.Value:0.0000}")) + $" → α={best:g4}");
        var (w, bias) = SolvePrimalOrDual(x64, y64, best);
        return new RidgeMap(w.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope(), best, scores);
    }

    /// <summary>
    /// Fits x → y with alpha chosen on a held-out split instead of by k-fold CV: for each alpha the map fitted on
    /// <paramref name="trainRows"/> predicts <paramref name="validationRows"/> and <paramref name="score"/>(prediction,
    /// truth) rates it (higher is better; ties go to the smaller alpha); the chosen alpha is then refitted on all rows.
    /// All alphas share one eigendecomposition of the training rows' smaller Gram matrix (float64), as in
    /// <see cref="Fit"/>. The returned scores are the validation scores.
    /// </summary>
    public static RidgeMap FitByValidation(Tensor x, Tensor y, IReadOnlyList<double> alphas, Tensor trainRows,
        Tensor validationRows, Func<Tensor, Tensor, double> score, TextWriter? log = null, string label = "")
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x64 = x.to_type(ScalarType.Float64);
        var y64 = y.to_type(ScalarType.Float64);
        var xtr = x64.index_select(0, trainRows);
        var xm = xtr.mean([0], keepdim: true);
        xtr -= xm;
        var xva = x64.index_select(0, validationRows) - xm;
        var ytr = y64.index_select(0, trainRows);
        var ym = ytr.mean([0], keepdim: true);
        // pred(α) = L · diag(1/(s+α)) · M + ȳ with M = R·(Y_tr − ȳ), (s, U) from the smaller Gram matrix.
        Tensor s, left, m;
        if (xtr.shape[1] <= xtr.shape[0])
        {
            var (ev, u) = linalg.eigh(xtr.t().mm(xtr));
            s = ev; left = xva.mm(u); m = u.t().mm(xtr.t()).mm(ytr - ym);
        }
        else
        {
            var (ev, u) = linalg.eigh(xtr.mm(xtr.t()));
            s = ev; left = xva.mm(xtr.t()).mm(u); m = u.t().mm(ytr - ym);
        }
        s = s.clamp_min(0);
        var truth = y64.index_select(0, validationRows).to_type(ScalarType.Float32);
        var scores = new Dictionary<double, double>();
        foreach (double a in alphas)
        {
            using var al = NewDisposeScope();
            var pred = ((left * (1.0 / (s + a))).mm(m) + ym).to_type(ScalarType.Float32);
            scores[a] = score(pred, truth);
        }
        double best = scores.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
        log?.WriteLine($"ridge {label}: validation score "
            + string.Join(", ", scores.Select(kv => $"α={kv.Key:g4}: {kv.Value:0.0000}")) + $" → α={best:g4}");
        var (w, bias) = SolvePrimalOrDual(x64, y64, best);
        return new RidgeMap(w.MoveToOuterDisposeScope(), bias.MoveToOuterDisposeScope(), best, scores);
    }

    /// <summary>
    /// Adds one fold's held-out dot products pred·y, squared norms pred·pred and y·y (per held-out row) for every
    /// alpha, with pred(α) = L·diag(1/(s+α))·R + ȳ and R = right·(Y_tr − ȳ). The predictions themselves (held-out
    /// rows × target columns, per alpha) are never formed: pred·y needs only G = R·Y_vaᵀ and pred·pred only R·Rᵀ and
    /// R·ȳᵀ, accumulated once over column chunks; each alpha then costs one (held-out × K × K) product instead of a
    /// (held-out × K × columns) one — 3× less work for the detail stream at NSD scale, the same figures to
    /// float64 rounding.
    /// </summary>
    static void FoldScores(Tensor left, Tensor s, Tensor rightX, Tensor y64, Tensor tr, Tensor va,
        IReadOnlyList<double> alphas, Tensor dot, Tensor pp, Tensor yy)
    {
        long k = left.shape[1], nva = left.shape[0];
        var g = zeros(k, nva, dtype: ScalarType.Float64);      // R·Y_vaᵀ
        var rr = zeros(k, k, dtype: ScalarType.Float64);       // R·Rᵀ
        var rm = zeros(k, 1, dtype: ScalarType.Float64);       // R·ȳᵀ
        var ym2 = zeros(1, dtype: ScalarType.Float64);         // ȳ·ȳ
        var yvaYm = zeros(nva, dtype: ScalarType.Float64);     // Y_va·ȳᵀ
        for (long c0 = 0; c0 < y64.shape[1]; c0 += ColumnChunk)
        {
            using var cs = NewDisposeScope();
            long cn = Math.Min(ColumnChunk, y64.shape[1] - c0);
            var ytr = y64.index_select(0, tr).narrow(1, c0, cn);
            var ym = ytr.mean([0], keepdim: true);
            var yva = y64.index_select(0, va).narrow(1, c0, cn);
            var r = rightX.mm(ytr - ym);
            yy.index_add_(0, va, (yva * yva).sum(1), 1.0);
            g.add_(r.mm(yva.t()));
            rr.add_(r.mm(r.t()));
            rm.add_(r.mm(ym.t()));
            ym2.add_((ym * ym).sum());
            yvaYm.add_(yva.mm(ym.t()).squeeze(1));
        }
        for (int i = 0; i < alphas.Count; i++)
        {
            using var al = NewDisposeScope();
            var a = left * (1.0 / (s + alphas[i]));             // L·diag(1/(s+α)), (held-out, K)
            dot[i].index_add_(0, va, (a * g.t()).sum(1) + yvaYm, 1.0);
            var quad = (a.mm(rr) * a).sum(1) + 2 * a.mm(rm).squeeze(1) + ym2;
            pp[i].index_add_(0, va, quad, 1.0);
        }
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
            result.index_copy_(0, va,
                nn.functional.linear(x.index_select(0, va).to_type(ScalarType.Float32), w.t(), bias));
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

    /// <summary>Ridge solution on all rows (intercept by centring), primal or dual, whichever system is
    /// smaller.</summary>
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
