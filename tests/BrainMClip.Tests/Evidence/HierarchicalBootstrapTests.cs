using BrainMClip.Evidence;
using BrainMClip.Training;
using Xunit;

namespace BrainMClip.Tests.Evidence;

/// <summary>
/// The evidence statistic and its bootstraps against a float64 reference written from the documented definition
/// (materialising every resampled table), a degenerate table with a known answer, a two-subject table whose bootstrap
/// distribution is known exactly, and a table where subjects differ far more than images do.
/// </summary>
public class HierarchicalBootstrapTests
{
    /// <summary>Subjects × seeds × images of weights and numerators (weight × per-image difference).</summary>
    static List<BootstrapSubject> Table(int seed, int subjects, Func<int, int, int, double> diff)
    {
        var rng = new Random(seed);
        var list = new List<BootstrapSubject>();
        for (int s = 0; s < subjects; s++)
        {
            int m = 4 + rng.Next(5), k = 1 + rng.Next(3);
            var w = Enumerable.Range(0, m).Select(_ => (double)(1 + rng.Next(4))).ToArray();
            var seeds = Enumerable.Range(0, k).Select(j =>
                Enumerable.Range(0, m).Select(i => w[i] * diff(s, j, i)).ToArray()).ToList();
            list.Add(new BootstrapSubject(w, seeds));
        }
        return list;
    }

    /// <summary>Reference: the resampled table written out, then mean over subjects of mean over seeds of
    /// Σ numerator / Σ weight.</summary>
    static (double, double) Reference(List<BootstrapSubject> t, bool subjects, bool seeds, int resamples, int seed)
    {
        var rng = new Random(seed);
        var stats = new List<double>();
        for (int b = 0; b < resamples; b++)
        {
            var drawnSubjects = t.Select((_, j) => subjects ? t[rng.Next(t.Count)] : t[j]).ToList();
            var perSubject = new List<double>();
            foreach (var s in drawnSubjects)
            {
                var drawnSeeds = s.Seeds.Select((_, j) => seeds ? s.Seeds[rng.Next(s.Seeds.Count)] : s.Seeds[j])
                    .ToList();
                var images = s.Weights.Select(_ => rng.Next(s.Weights.Length)).ToList();
                double w = images.Sum(i => s.Weights[i]);
                perSubject.Add(drawnSeeds.Select(d => images.Sum(i => d[i]) / w).Average());
            }
            stats.Add(perSubject.Average());
        }
        var sorted = stats.Order().ToArray();
        return (StudyStatistics.Quantile(sorted, 0.025), StudyStatistics.Quantile(sorted, 0.975));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void IntervalEqualsTheReferenceImplementation(bool subjects, bool seeds)
    {
        var noise = new Random(3);
        var t = Table(1, 4, (s, j, i) => 0.1 * s - 0.05 * j + noise.NextDouble() - 0.5);
        var (lo, hi) = HierarchicalBootstrap.Interval(t, subjects, seeds, resamples: 500, seed: 9);
        var (rlo, rhi) = Reference(t, subjects, seeds, 500, 9);
        Assert.Equal(rlo, lo, 12);
        Assert.Equal(rhi, hi, 12);
        double point = t.Average(s => s.Seeds.Average(d => d.Sum() / s.Weights.Sum()));
        Assert.Equal(point, HierarchicalBootstrap.Statistic(t), 12);
        Assert.InRange(point, lo, hi);
    }

    [Fact]
    public void AConstantDifferenceHasAZeroWidthInterval()
    {
        var t = Table(2, 3, (_, _, _) => 0.25);
        Assert.Equal(0.25, HierarchicalBootstrap.Statistic(t), 12);
        foreach (var (s, k) in new[] { (true, true), (false, false) })
        {
            var (lo, hi) = HierarchicalBootstrap.Interval(t, s, k, 300, 1);
            Assert.Equal(0.25, lo, 12);
            Assert.Equal(0.25, hi, 12);
        }
    }

    [Fact]
    public void TwoSubjectsAtZeroAndOneGiveTheExactBootstrapInterval()
    {
        // Subject means 0 and 1, images and seeds identical within a subject: a replicate's mean is 0, ½ or 1 with
        // probabilities ¼, ½, ¼, so the 2.5 % and 97.5 % quantiles of 2,000 replicates are exactly 0 and 1, while
        // the image-only interval (subjects fixed) is the point ½.
        var t = new List<BootstrapSubject>
        {
            new([1, 2, 3], [[0, 0, 0], [0, 0, 0]]),
            new([2, 2], [[2, 2]]),
        };
        Assert.Equal(0.5, HierarchicalBootstrap.Statistic(t), 12);
        Assert.Equal((0.0, 1.0), HierarchicalBootstrap.Interval(t, true, true, 2000, 4));
        var (lo, hi) = HierarchicalBootstrap.Interval(t, false, false, 2000, 4);
        Assert.Equal(0.5, lo, 12);
        Assert.Equal(0.5, hi, 12);
    }

    [Fact]
    public void WhenSubjectsVaryMoreThanImagesTheHierarchicalIntervalIsWider()
    {
        var noise = new Random(5);
        var offsets = new[] { -0.04, 0.05, 0.01, 0.09, -0.02, 0.03 };
        var t = Table(6, offsets.Length, (s, _, _) => offsets[s] + 0.002 * (noise.NextDouble() - 0.5));
        var (hlo, hhi) = HierarchicalBootstrap.Interval(t, true, true, 2000, 0);
        var (ilo, ihi) = HierarchicalBootstrap.Interval(t, false, false, 2000, 0);
        Assert.True(hhi - hlo > 10 * (ihi - ilo), $"hierarchical [{hlo}, {hhi}] vs image-only [{ilo}, {ihi}]");
        // The image-only interval is blind to the subjects: it excludes zero although two of six subjects are below.
        Assert.True(ilo > 0 && hlo < 0.01, $"image-only [{ilo}, {ihi}], hierarchical [{hlo}, {hhi}]");
    }
}
