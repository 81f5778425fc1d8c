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
        if (flat.shape[1] != Dims) throw new ArgumentException($"feature batch has {flat.shape[1]} values per image, expected {Dims}");
        flat.data<float>().CopyTo(Data, checked(start * Dims));
    }
}

/// <summary>2-way identification and correlation distance on flattened features (SPEC §5, MindEye's definitions).</summary>
public static class Identification
{
    public sealed record TwoWayResult(double Score, int[] Counts, double[] PerImage);

    public static TwoWayResult TwoWay(Tensor real, Tensor pred) => TwoWay(FeatureMatrix.FromTensor(real), FeatureMatrix.FromTensor(pred));

    public static (double Mean, double[] PerImage) CorrelationDistance(Tensor real, Tensor pred) =>
        CorrelationDistance(FeatureMatrix.FromTensor(real), FeatureMatrix.FromTensor(pred));

    /// <summary>
    /// r[i][j] = Pearson(real_i, pred_j) in float64 (np.corrcoef); for prediction j, count the i ≠ j with
    /// r[i][j] &lt; r[j][j] (strict, so exact ties do not count); score = mean_j count_j / (N−1).
    /// Every r[i][j] is computed by the same sequence of operations, so identical rows give bit-identical
    /// correlations and ties stay ties.
    /// </summary>
    public static TwoWayResult TwoWay(FeatureMatrix real, FeatureMatrix pred)
    {
        Check(real, pred);
        int n = real.Rows;
        var (ma, sa) = RowStats(real);
        var (mb, sb) = RowStats(pred);
        var r = new double[n, n];
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j < n; j++)
                r[i, j] = Math.Clamp(CenteredDot(real.Row(i), ma[i], pred.Row(j), mb[j]) / sa[i] / sb[j], -1.0, 1.0);
        });
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
        if (a.Rows != b.Rows) throw new ArgumentException($"real and pred must have the same number of rows ({a.Rows} vs {b.Rows})");
        if (a.Dims != b.Dims) throw new ArgumentException($"real and pred features differ in size ({a.Dims} vs {b.Dims})");
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
