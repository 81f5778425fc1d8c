using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>Result of the layer analysis: RSA (layers × ROI groups) and linear CKA (layers × layers).</summary>
public sealed record LayerAnalysisResult(string[] LayerNames, string[] RoiNames, double[,] Rsa, double[,] Cka);

/// <summary>
/// The analysis the paper used to choose CLIP layers 11–20 (docs/evaluation.md): representational similarity between
/// every CLIP layer and every ROI group (Spearman correlation of the RDMs' upper triangles, RDM = 1 − Pearson between
/// samples), and linear CKA between every pair of layers. All arithmetic in float64.
/// </summary>
public static class LayerAnalysis
{
    /// <param name="layers">One (N, ...) tensor per layer, rows = samples (same order as the ROI data).</param>
    /// <param name="roiGroups">ROI group name → (N, voxels) responses.</param>
    public static LayerAnalysisResult Run(IReadOnlyList<Tensor> layers, IReadOnlyDictionary<string, Tensor> roiGroups,
        IReadOnlyList<string>? layerNames = null) =>
        Run(layers.Count, i => layers[i].alias(), roiGroups, layerNames);

    /// <summary>
    /// Streaming form: layers are fetched one at a time (CLIP ViT-L hidden states are ~1 GB per layer for the NSD
    /// test set), each reduced to its N×N Gram matrix in float64 and then released.
    /// </summary>
    public static LayerAnalysisResult Run(int layerCount, Func<int, Tensor> loadLayer,
        IReadOnlyDictionary<string, Tensor> roiGroups,
        IReadOnlyList<string>? layerNames = null, IProgress<int>? progress = null)
    {
        if (layerCount == 0) throw new ArgumentException("layer analysis needs at least one layer");
        if (roiGroups.Count == 0) throw new ArgumentException("layer analysis needs at least one ROI group");
        var names = layerNames?.ToArray() ?? Enumerable.Range(0, layerCount).Select(i => $"layer {i}").ToArray();
        var rois = roiGroups.Keys.ToArray();
        long n = roiGroups.Values.First().shape[0];
        if (n < 3) throw new ArgumentException($"layer analysis needs at least 3 samples (got {n})");
        foreach (var (name, t) in roiGroups)
            if (t.shape[0] != n) throw new ArgumentException(
                $"ROI group '{name}' has {t.shape[0]} samples, expected {n}");

        var layerRdms = new double[layerCount][];
        var grams = new Tensor[layerCount];
        try
        {
            for (int i = 0; i < layerCount; i++)
            {
                using var scope = NewDisposeScope();
                var x = loadLayer(i);
                if (x.shape[0] != n) throw new ArgumentException(
                    $"layer {names[i]} has {x.shape[0]} samples, expected {n}");
                var (g, rowSums, d) = Gram(x);
                layerRdms[i] = RdmUpper(g, rowSums, d);
                grams[i] = DoubleCentre(g).MoveToOuterDisposeScope();
                progress?.Report(i + 1);
            }
            var roiRdms = rois.Select(r =>
            {
                using var s = NewDisposeScope();
                var (g, rs, d) = Gram(roiGroups[r]);
                return RdmUpper(g, rs, d);
            }).ToArray();

            var rsa = new double[layerCount, rois.Length];
            for (int i = 0; i < layerCount; i++)
                for (int j = 0; j < rois.Length; j++)
                    rsa[i, j] = Spearman(layerRdms[i], roiRdms[j]);

            var cka = new double[layerCount, layerCount];
            var norms = grams.Select(g => g.square().sum().sqrt().item<double>()).ToArray();
            for (int i = 0; i < layerCount; i++)
                for (int j = i; j < layerCount; j++)
                    cka[i, j] = cka[j, i] = (grams[i] * grams[j]).sum().item<double>() / (norms[i] * norms[j]);
            return new LayerAnalysisResult(names, rois, rsa, cka);
        }
        finally
        {
            foreach (var g in grams) g?.Dispose();
        }
    }

    /// <summary>G = X Xᵀ (float64, accumulated over column chunks so a float32 layer is never copied whole) and row
    /// sums.</summary>
    static (Tensor gram, double[] rowSums, long dims) Gram(Tensor x)
    {
        long n = x.shape[0];
        var flat = x.reshape(n, -1);
        long d = flat.shape[1];
        const long chunk = 8192;
        var g = zeros(n, n, ScalarType.Float64);
        var sums = zeros(n, ScalarType.Float64);
        for (long c = 0; c < d; c += chunk)
        {
            using var scope = NewDisposeScope();
            var block = flat.narrow(1, c, Math.Min(chunk, d - c)).to_type(ScalarType.Float64);
            g.add_(torch.mm(block, block.t()));
            sums.add_(block.sum(1));
        }
        return (g, sums.data<double>().ToArray(), d);
    }

    /// <summary>Upper triangle (k = 1, row-major) of 1 − Pearson between rows, from the raw Gram matrix.</summary>
    static double[] RdmUpper(Tensor gram, double[] rowSums, long d)
    {
        int n = rowSums.Length;
        var g = gram.contiguous().data<double>().ToArray();
        double Cov(int i, int j) => g[i * n + j] - rowSums[i] * rowSums[j] / d;
        var sd = Enumerable.Range(0, n).Select(i => Math.Sqrt(Cov(i, i))).ToArray();
        var upper = new double[n * (n - 1) / 2];
        int k = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                upper[k++] = 1 - Math.Clamp(Cov(i, j) / sd[i] / sd[j], -1.0, 1.0);
        return upper;
    }

    /// <summary>Kc = H G H with H = I − 11ᵀ/N: the Gram matrix of column-centred features (linear CKA).</summary>
    static Tensor DoubleCentre(Tensor g)
    {
        var rowMean = g.mean([1], keepdim: true);
        var colMean = g.mean([0], keepdim: true);
        return g - rowMean - colMean + g.mean();
    }

    /// <summary>Spearman rank correlation with average ranks for ties (scipy.stats.spearmanr).</summary>
    public static double Spearman(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Spearman needs equally long vectors");
        var ra = Ranks(a); var rb = Ranks(b);
        return RankPearson(ra, rb);
    }

    static double RankPearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        { double x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
        return sab / Math.Sqrt(saa * sbb);
    }

    static double[] Ranks(double[] v)
    {
        var idx = Enumerable.Range(0, v.Length).ToArray();
        Array.Sort(idx, (p, q) => v[p].CompareTo(v[q]));
        var ranks = new double[v.Length];
        for (int i = 0; i < idx.Length;)
        {
            int j = i;
            while (j + 1 < idx.Length && v[idx[j + 1]] == v[idx[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[idx[k]] = avg;
            i = j + 1;
        }
        return ranks;
    }
}
