using BrainMClip.Training;

namespace BrainMClip.Evidence;

/// <summary>
/// One subject's paired data for <see cref="HierarchicalBootstrap"/>: per test image its weight (> 0) and, per
/// training seed paired between the two models, the per-image numerator. The preregistered statistic has weight 1 and
/// numerator = the per-image hit-rate difference (a plain mean over images); weight = appearances in the retrieval
/// loops and numerator = the hit-count difference give the difference of the runs' top-1 loop means.
/// </summary>
public sealed record BootstrapSubject(double[] Weights, IReadOnlyList<double[]> Seeds);

/// <summary>
/// The evidence statistic and its bootstraps. Statistic: the mean over subjects of the mean over the subject's
/// paired seeds of Σᵢ numeratorᵢ / Σᵢ weightᵢ over its test images (see <see cref="BootstrapSubject"/>). The
/// hierarchical bootstrap
/// resamples, per replicate, the subjects with replacement; within each drawn subject its seeds with replacement and
/// its test images with replacement (one image resample for all of that subject's seeds: the seeds are scored on
/// the same images). The image-only interval keeps subjects and seeds fixed and resamples only the images, as
/// <see cref="StudyStatistics.PairedBootstrap"/> does. Draw order (a reference implementation must follow it): for
/// each replicate, the subject indices (rng.Next(S), S times) when subjects are resampled; then for each drawn subject
/// in order the seed indices (rng.Next(K), K times) when seeds are resampled, then its image indices (rng.Next(m),
/// m times). One <see cref="Random"/>(seed) for all replicates; percentile interval (numpy's linear quantile).
/// A deterministic baseline (ridge at the full size: the same fit for every seed) needs no special case: its seeds
/// are identical, so only the model's seed variance enters through the seed level.
/// </summary>
public static class HierarchicalBootstrap
{
    public static double Statistic(IReadOnlyList<BootstrapSubject> subjects)
    {
        Validate(subjects);
        return subjects.Average(s => s.Seeds.Average(d => d.Sum() / s.Weights.Sum()));
    }

    public static (double Low, double High) Interval(IReadOnlyList<BootstrapSubject> subjects, bool resampleSubjects,
        bool resampleSeeds, int resamples = 2000, int seed = 0, double level = 0.95)
    {
        Validate(subjects);
        if (resamples < 1) throw new UserInputException($"bootstrap resamples {resamples}: expected >= 1");
        var rng = new Random(seed);
        var values = new double[resamples];
        int nS = subjects.Count;
        var counts = subjects.Select(s => new int[s.Weights.Length]).ToArray();
        var picked = new int[nS];
        for (int b = 0; b < resamples; b++)
        {
            for (int j = 0; j < nS; j++) picked[j] = resampleSubjects ? rng.Next(nS) : j;
            double total = 0;
            for (int j = 0; j < nS; j++)
                total += SubjectReplicate(subjects[picked[j]], counts[picked[j]], resampleSeeds, rng);
            values[b] = total / nS;
        }
        Array.Sort(values);
        double tail = (1 - level) / 2;
        return (StudyStatistics.Quantile(values, tail), StudyStatistics.Quantile(values, 1 - tail));
    }

    static double SubjectReplicate(BootstrapSubject s, int[] counts, bool resampleSeeds, Random rng)
    {
        int k = s.Seeds.Count, m = s.Weights.Length;
        Span<int> seedDraws = k <= 64 ? stackalloc int[k] : new int[k];
        for (int j = 0; j < k; j++) seedDraws[j] = resampleSeeds ? rng.Next(k) : j;
        Array.Clear(counts);
        for (int i = 0; i < m; i++) counts[rng.Next(m)]++;
        double w = 0;
        for (int i = 0; i < m; i++) w += counts[i] * s.Weights[i];
        double sum = 0;
        foreach (int j in seedDraws)
        {
            var d = s.Seeds[j];
            double num = 0;
            for (int i = 0; i < m; i++) num += counts[i] * d[i];
            sum += num;
        }
        return sum / k / w;
    }

    static void Validate(IReadOnlyList<BootstrapSubject> subjects)
    {
        if (subjects.Count == 0) throw new ArgumentException("no subjects");
        foreach (var s in subjects)
        {
            if (s.Seeds.Count == 0 || s.Weights.Length == 0) throw new ArgumentException("a subject without data");
            if (s.Weights.Any(w => !(w > 0))) throw new ArgumentException("weights must be > 0");
            if (s.Seeds.Any(d => d.Length != s.Weights.Length))
                throw new ArgumentException("a seed's numerators do not match the subject's images");
        }
    }
}
