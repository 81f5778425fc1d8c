namespace BrainMClip.Training;

/// <summary>A mean paired difference with its percentile bootstrap confidence interval.</summary>
public sealed record PairedDifference(double Mean, double Low, double High, int Samples, int Resamples)
{
    public bool ExcludesZero => Low > 0 || High < 0;
}

/// <summary>Statistics of the study: paired bootstrap over test images and seed summaries.</summary>
public static class StudyStatistics
{
    /// <summary>
    /// Mean of a − b over the test images where both are defined, and its 95 % percentile bootstrap interval:
    /// images are resampled with replacement (seeded), so the interval is over the test set, for the trained models.
    /// </summary>
    public static PairedDifference PairedBootstrap(IReadOnlyList<double> a, IReadOnlyList<double> b,
        int resamples = 2000, long seed = 0, double level = 0.95)
    {
        if (a.Count != b.Count)
            throw new ArgumentException($"paired samples of different lengths ({a.Count} and {b.Count})");
        var d = a.Zip(b, (x, y) => x - y).Where(double.IsFinite).ToArray();
        if (d.Length == 0) return new PairedDifference(double.NaN, double.NaN, double.NaN, 0, resamples);
        var rng = new Random(unchecked((int)seed));
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double s = 0;
            for (int i = 0; i < d.Length; i++) s += d[rng.Next(d.Length)];
            means[r] = s / d.Length;
        }
        Array.Sort(means);
        double tail = (1 - level) / 2;
        return new PairedDifference(d.Average(), Quantile(means, tail), Quantile(means, 1 - tail), d.Length, resamples);
    }

    /// <summary>Linear-interpolation quantile of sorted values (numpy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>Element-wise mean over runs (e.g. seeds) of per-image hit rates; NaN where every run is NaN.</summary>
    public static double[] MeanOverRuns(IReadOnlyList<double[]> runs)
    {
        int n = runs[0].Length;
        var r = new double[n];
        for (int i = 0; i < n; i++)
        {
            var v = runs.Select(x => x[i]).Where(double.IsFinite).ToArray();
            r[i] = v.Length == 0 ? double.NaN : v.Average();
        }
        return r;
    }

    /// <summary>Mean and sample standard deviation (0 for one value).</summary>
    public static (double Mean, double Sd) MeanSd(IReadOnlyList<double> v)
    {
        double m = v.Average();
        double sd = v.Count < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1));
        return (m, sd);
    }
}
