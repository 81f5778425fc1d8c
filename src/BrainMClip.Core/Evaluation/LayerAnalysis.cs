using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>Result of the layer analysis: RSA (layers × ROI groups) and linear CKA (layers × layers).</summary>
public sealed record LayerAnalysisResult(string[] LayerNames, string[] RoiNames, double[,] Rsa, double[,] Cka);

/// <summary>
/// The analysis the paper used to choose CLIP layers 11–20 (SPEC §5): representational similarity between every CLIP
/// layer and every ROI group (Spearman correlation of the RDMs' upper triangles, RDM = 1 − Pearson between
/// samples), and linear CKA between every pair of layers. All arithmetic in float64.
/// </summary>
public static class LayerAnalysis
{
    /// <param name="layers">One (N, ...) tensor per layer, rows = samples (same order as the ROI data).</param>
    /// <param name="roiGroups">ROI group name → (N, voxels) responses.</param>
    public static LayerAnalysisResult Run(IReadOnlyList<Tensor> layers, IReadOnlyDictionary<string, Tensor> roiGroups,
        IReadOnlyList<string>? layerNames = null, IProgress<int>? progress = null)
    {
        if (layers.Count == 0) throw new ArgumentException("layer analysis needs at least one layer");
        long n = layers[0].shape[0];
        if (n < 3) throw new ArgumentException($"layer analysis needs at least 3 samples (got {n})");
        foreach (var t in layers.Concat(roiGroups.Values))
            if (t.shape[0] != n) throw new ArgumentException($"all layers and ROI groups must have {n} samples (found a tensor with {t.shape[0]})");
        var names = layerNames?.ToArray() ?? Enumerable.Range(0, layers.Count).Select(i => $"layer {i}").ToArray();
        var rois = roiGroups.Keys.ToArray();

        var layerRdms = new double[layers.Count][];
        var grams = new Tensor[layers.Count];
        try
        {
            for (int i = 0; i < layers.Count; i++)
            {
                using var scope = NewDisposeScope();
                var x = Flat(layers[i]);
                layerRdms[i] = RdmUpper(x);
                grams[i] = CenteredGram(x).MoveToOuterDisposeScope();
                progress?.Report(i + 1);
            }
            var roiRdms = rois.Select(r => { using var s = NewDisposeScope(); return RdmUpper(Flat(roiGroups[r])); }).ToArray();

            var rsa = new double[layers.Count, rois.Length];
            for (int i = 0; i < layers.Count; i++)
                for (int j = 0; j < rois.Length; j++)
                    rsa[i, j] = Spearman(layerRdms[i], roiRdms[j]);

            var cka = new double[layers.Count, layers.Count];
            var norms = grams.Select(g => g.square().sum().sqrt().item<double>()).ToArray();
            for (int i = 0; i < layers.Count; i++)
                for (int j = i; j < layers.Count; j++)
                {
                    double v = (grams[i] * grams[j]).sum().item<double>() / (norms[i] * norms[j]);
                    cka[i, j] = cka[j, i] = v;
                }
            return new LayerAnalysisResult(names, rois, rsa, cka);
        }
        finally
        {
            foreach (var g in grams) g?.Dispose();
        }
    }

    static Tensor Flat(Tensor t) => t.reshape(t.shape[0], -1).to_type(ScalarType.Float64);

    /// <summary>Upper triangle (k = 1, row-major) of 1 − corrcoef(rows).</summary>
    public static double[] RdmUpper(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = Flat(x);
        var z = x - x.mean([1], keepdim: true);
        z = z / z.square().sum([1], keepdim: true).sqrt();
        var r = torch.mm(z, z.t()).clamp(-1, 1);
        var rr = r.contiguous().data<double>().ToArray();
        int n = (int)x.shape[0];
        var upper = new double[n * (n - 1) / 2];
        int k = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) upper[k++] = 1 - rr[i * n + j];
        return upper;
    }

    /// <summary>Gram matrix of column-centred features, double-centred: Kc = H X Xᵀ H. CKA = ⟨Kc,Lc⟩/(‖Kc‖‖Lc‖).</summary>
    static Tensor CenteredGram(Tensor x)
    {
        var xc = x - x.mean([0], keepdim: true);
        return torch.mm(xc, xc.t());
    }

    /// <summary>Spearman rank correlation with average ranks for ties (scipy.stats.spearmanr).</summary>
    public static double Spearman(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Spearman needs equally long vectors");
        var ra = Ranks(a); var rb = Ranks(b);
        return PixelMetricsPearson(ra, rb);
    }

    static double PixelMetricsPearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { double x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
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
