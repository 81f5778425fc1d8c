using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>N rows of D float32 features, row-major (one row per image). Kept as float32: AlexNet(2) features of the
/// NSD test set are 982 × 184,512 values per side.</summary>
public sealed class FeatureMatrix(int rows, int dims)
{
    public int Rows { get; } = rows;
    public int Dims { get; } = dims;
    public float[] Data { get; } = new float[checked((long)rows * dims)];

    public Span<float> Row(int i) => Data.AsSpan(i * Dims, Dims);

    public static FeatureMatrix FromTensor(Tensor t)
    {
        using var scope = NewDisposeScope();
        var flat = t.reshape(t.shape[0], -1).to_type(ScalarType.Float32).contiguous();
        var m = new FeatureMatrix((int)flat.shape[0], (int)flat.shape[1]);
        flat.data<float>().CopyTo(m.Data, 0);
        return m;
    }

    /// <summary>Copies a (B, ...) batch into rows [start, start+B).</summary>
    public void SetRows(int start, Tensor batch)
    {
        using var scope = NewDisposeScope();
        var flat = batch.reshape(batch.shape[0], -1).to_type(ScalarType.Float32).contiguous();
        if (flat.shape[1] != Dims) throw new ArgumentException(
            $"feature batch has {flat.shape[1]} values per image, expected {Dims}");
        flat.data<float>().CopyTo(Data, checked(start * Dims));
    }
}

/// <summary>2-way identification and correlation distance on flattened features (docs/evaluation.md, MindEye's
/// definitions).</summary>
public static class Identification
{
    public sealed record TwoWayResult(double Score, int[] Counts, double[] PerImage);

    public static TwoWayResult TwoWay(Tensor real, Tensor pred) =>
        TwoWay(FeatureMatrix.FromTensor(real), FeatureMatrix.FromTensor(pred));

    public static (double Mean, double[] PerImage) CorrelationDistance(Tensor real, Tensor pred) =>
        CorrelationDistance(FeatureMatrix.FromTensor(real), FeatureMatrix.FromTensor(pred));

    /// <summary>
    /// r[i][j] = Pearson(real_i, pred_j) in float64 (np.corrcoef); for prediction j, count the i ≠ j with
    /// r[i][j] &lt; r[j][j] (strict, so exact ties do not count); score = mean_j count_j / (N−1).
    /// </summary>
    /// <remarks>
    /// The N×N correlations come from float64 matrix products over column chunks of the standardised features
    /// (BLAS speed: 982 × 184,512 AlexNet(2) features take seconds, not minutes). BLAS does not promise the same
    /// rounding for every output position, so bit-identical feature rows (the realistic source of exact ties, e.g.
    /// a repeated stimulus) are detected and their correlations copied from one representative: identical inputs then
    /// give identical r values and ties stay ties, as in numpy.
    /// </remarks>
    public static TwoWayResult TwoWay(FeatureMatrix real, FeatureMatrix pred)
    {
        Check(real, pred);
        int n = real.Rows;
        var r = Correlations(real, pred);
        var repA = Representatives(real); var repB = Representatives(pred);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (repA[i] != i || repB[j] != j) r[i, j] = r[repA[i], repB[j]];
        var counts = new int[n];
        for (int j = 0; j < n; j++)
        {
            double diag = r[j, j];
            int c = 0;
            for (int i = 0; i < n; i++) if (i != j && r[i, j] < diag) c++;
            counts[j] = c;
        }
        var per = counts.Select(c => c / (double)(n - 1)).ToArray();
        return new TwoWayResult(per.Average(), counts, per);
    }

    /// <summary>Pearson correlation of every real row with every pred row (float64, clipped to [−1, 1]).</summary>
    public static double[,] Correlations(FeatureMatrix real, FeatureMatrix pred)
    {
        Check(real, pred);
        int n = real.Rows, d = real.Dims;
        var (ma, sa) = RowStats(real);
        var (mb, sb) = RowStats(pred);
        using var scope = NewDisposeScope();
        var meanA = tensor(ma).view(n, 1); var normA = tensor(sa).view(n, 1);
        var meanB = tensor(mb).view(n, 1); var normB = tensor(sb).view(n, 1);
        var acc = zeros(n, n, ScalarType.Float64);
        const int chunk = 4096;
        var buf = new float[(long)n * Math.Min(chunk, d)];
        for (int c = 0; c < d; c += chunk)
        {
            using var inner = NewDisposeScope();
            int k = Math.Min(chunk, d - c);
            Tensor Block(FeatureMatrix m, Tensor mean, Tensor norm)
            {
                for (int i = 0; i < n; i++) Array.Copy(m.Data, (long)i * d + c, buf, (long)i * k, k);
                return (tensor(buf.AsSpan(0, n * k).ToArray(), [n, k]).to_type(ScalarType.Float64) - mean) / norm;
            }
            acc.add_(torch.mm(Block(real, meanA, normA), Block(pred, meanB, normB).t()));
        }
        var flat = acc.clamp(-1, 1).contiguous().data<double>().ToArray();
        var r = new double[n, n];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(double));
        return r;
    }

    /// <summary>For every row, the first row with bit-identical features (itself when unique).</summary>
    static int[] Representatives(FeatureMatrix m)
    {
        var rep = new int[m.Rows];
        var byHash = new Dictionary<int, List<int>>();
        for (int i = 0; i < m.Rows; i++)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.Row(i));
            var hc = new HashCode();
            hc.AddBytes(bytes);
            int h = hc.ToHashCode();
            rep[i] = i;
            if (!byHash.TryGetValue(h, out var list)) byHash[h] = list = [];
            foreach (int j in list)
                if (bytes.SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.Row(j))))
                { rep[i] = j; break; }
            if (rep[i] == i) list.Add(i);
        }
        return rep;
    }

    /// <summary>Per-image 1 − Pearson(real_i, pred_i) (lower is better) and their mean.</summary>
    public static (double Mean, double[] PerImage) CorrelationDistance(FeatureMatrix real, FeatureMatrix pred)
    {
        Check(real, pred);
        var (ma, sa) = RowStats(real);
        var (mb, sb) = RowStats(pred);
        var per = new double[real.Rows];
        for (int i = 0; i < per.Length; i++)
            per[i] = 1 - Math.Clamp(CenteredDot(real.Row(i), ma[i], pred.Row(i), mb[i]) / sa[i] / sb[i], -1.0, 1.0);
        return (per.Average(), per);
    }

    static void Check(FeatureMatrix a, FeatureMatrix b)
    {
        if (a.Rows != b.Rows) throw new ArgumentException(
            $"real and pred must have the same number of rows ({a.Rows} vs {b.Rows})");
        if (a.Dims != b.Dims) throw new ArgumentException(
            $"real and pred features differ in size ({a.Dims} vs {b.Dims})");
        if (a.Rows < 2) throw new ArgumentException("2-way identification needs at least 2 samples");
    }

    /// <summary>Row means and root sums of squared deviations, in double.</summary>
    static (double[] mean, double[] norm) RowStats(FeatureMatrix m)
    {
        var mean = new double[m.Rows]; var norm = new double[m.Rows];
        Parallel.For(0, m.Rows, i =>
        {
            var row = m.Row(i);
            double s = 0;
            foreach (var v in row) s += v;
            double mu = s / row.Length;
            mean[i] = mu;
            norm[i] = Math.Sqrt(CenteredDot(row, mu, row, mu));
        });
        return (mean, norm);
    }

    /// <summary>Σ_k (a_k − ma)(b_k − mb) in double, vectorised in a fixed order.</summary>
    static double CenteredDot(ReadOnlySpan<float> a, double ma, ReadOnlySpan<float> b, double mb)
    {
        int k = 0, wf = Vector<float>.Count;
        var acc0 = Vector<double>.Zero; var acc1 = Vector<double>.Zero;
        var vma = new Vector<double>(ma); var vmb = new Vector<double>(mb);
        for (; k <= a.Length - wf; k += wf)
        {
            Vector.Widen(new Vector<float>(a.Slice(k, wf)), out var a0, out var a1);
            Vector.Widen(new Vector<float>(b.Slice(k, wf)), out var b0, out var b1);
            acc0 += (a0 - vma) * (b0 - vmb);
            acc1 += (a1 - vma) * (b1 - vmb);
        }
        double s = Vector.Sum(acc0 + acc1);
        for (; k < a.Length; k++) s += (a[k] - ma) * (b[k] - mb);
        return s;
    }
}
