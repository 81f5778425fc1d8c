using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>2-way identification and correlation distance on flattened features (SPEC §5, MindEye's definitions).</summary>
public static class Identification
{
    public sealed record TwoWayResult(double Score, int[] Counts, double[] PerImage);

    /// <summary>
    /// r[i][j] = Pearson(real_i, pred_j) in float64 (np.corrcoef); for prediction j, count the i ≠ j with
    /// r[i][j] &lt; r[j][j] (strict, so exact ties do not count); score = mean_j count_j / (N−1).
    /// </summary>
    public static TwoWayResult TwoWay(Tensor real, Tensor pred)
    {
        var (r, n) = CrossCorrelation(real, pred);
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
    public static (double Mean, double[] PerImage) CorrelationDistance(Tensor real, Tensor pred)
    {
        var (a, b, n, d) = Rows(real, pred);
        var per = new double[n];
        for (int i = 0; i < n; i++) per[i] = 1 - Pearson(a, b, i, i, d);
        return (per.Average(), per);
    }

    static (double[] a, double[] b, int n, int d) Rows(Tensor real, Tensor pred)
    {
        if (real.shape[0] != pred.shape[0])
            throw new ArgumentException($"real and pred must have the same number of rows ({real.shape[0]} vs {pred.shape[0]})");
        int n = (int)real.shape[0];
        using var scope = NewDisposeScope();
        var ra = real.reshape(n, -1).to_type(ScalarType.Float64).contiguous();
        var pa = pred.reshape(n, -1).to_type(ScalarType.Float64).contiguous();
        if (ra.shape[1] != pa.shape[1])
            throw new ArgumentException($"real and pred features differ in size ({ra.shape[1]} vs {pa.shape[1]})");
        if (n < 2) throw new ArgumentException("2-way identification needs at least 2 samples");
        return (ra.data<double>().ToArray(), pa.data<double>().ToArray(), n, (int)ra.shape[1]);
    }

    /// <summary>Rows centred; covariance / std_i / std_j in np.corrcoef's order, clipped to [−1, 1].</summary>
    static double Pearson(double[] a, double[] b, int i, int j, int d)
    {
        double ma = 0, mb = 0;
        for (int k = 0; k < d; k++) { ma += a[i * d + k]; mb += b[j * d + k]; }
        ma /= d; mb /= d;
        double sab = 0, saa = 0, sbb = 0;
        for (int k = 0; k < d; k++)
        {
            double x = a[i * d + k] - ma, y = b[j * d + k] - mb;
            sab += x * y; saa += x * x; sbb += y * y;
        }
        return Math.Clamp(sab / Math.Sqrt(saa) / Math.Sqrt(sbb), -1.0, 1.0);
    }

    static (double[,] r, int n) CrossCorrelation(Tensor real, Tensor pred)
    {
        var (a, b, n, d) = Rows(real, pred);
        // Centre and scale every row once; each r[i][j] is then one dot product in a fixed order, so identical
        // rows give bit-identical correlations (ties stay ties).
        double[] Standardise(double[] m)
        {
            var z = new double[m.Length];
            for (int i = 0; i < n; i++)
            {
                double mean = 0;
                for (int k = 0; k < d; k++) mean += m[i * d + k];
                mean /= d;
                double ss = 0;
                for (int k = 0; k < d; k++) { double x = m[i * d + k] - mean; z[i * d + k] = x; ss += x * x; }
                double s = Math.Sqrt(ss);
                for (int k = 0; k < d; k++) z[i * d + k] = s > 0 ? z[i * d + k] / s : 0;
            }
            return z;
        }
        var za = Standardise(a); var zb = Standardise(b);
        var r = new double[n, n];
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++) s += za[i * d + k] * zb[j * d + k];
                r[i, j] = Math.Clamp(s, -1.0, 1.0);
            }
        });
        return (r, n);
    }
}
