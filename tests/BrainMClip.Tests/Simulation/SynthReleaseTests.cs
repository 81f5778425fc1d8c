using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Simulation;
using Xunit;

namespace BrainMClip.Tests.Simulation;

/// <summary>`synth --nsd-release`: NSD's constants, both betas formats, and a release that prepares into data whose
/// rows carry the synthetic world's signal.</summary>
public class SynthReleaseTests
{
    static SynthResult Release(string dir, NsdBetasFormat betas, int sessions = 1) =>
        SyntheticNsd.Generate(new SynthOptions
        {
            OutDir = dir,
            Subject = 2,
            ImageSize = 16,
            Grid = [8, 12, 8],
            Seed = 5,
            NsdRelease = new NsdReleaseSpec { Betas = betas, Sessions = sessions },
        }, TextWriter.Null);

    [Fact]
    public void WritesTheRealConstantsAndPreparesToTheWorldSignal()
    {
        using var dir = new TempDir();
        string rn = Path.Combine(dir.Path, "nifti"), rh = Path.Combine(dir.Path, "hdf5");
        var r = Release(rn, NsdBetasFormat.Nifti);
        Release(rh, NsdBetasFormat.Hdf5);

        var d = NsdDesign.Read(NsdRelease.DesignPath(rn));
        Assert.All(d.SubjectIm, s => Assert.Equal(d.SharedIx, s[..1000]));
        Assert.All(d.SubjectIm, s => Assert.Equal(10_000, s.Distinct().Count()));
        Assert.All(d.MasterOrdering.GroupBy(x => x), g => Assert.Equal(3, g.Count()));
        using (var h5 = Hdf5File.Open(NsdRelease.StimuliPath(rn)))
            Assert.Equal(new ulong[] { 73_000, 16, 16, 3 }, h5.Dataset("imgBrick").Dims);
        Assert.Equal(1, NsdRelease.ConsecutiveSessions(rn, 2, NsdBetasFormat.Nifti));
        Assert.Equal(1, NsdRelease.ConsecutiveSessions(rh, 2, NsdBetasFormat.Hdf5));

        var prep = new[] { rn, rh }.Select(root => NsdPrepare.Run(new NsdPrepareOptions
        { NsdRoot = root, Subject = 2, OutDir = root + "-prepared" }, TextWriter.Null)).ToArray();
        Assert.Equal(r.Release!.TrainImages, prep[0].TrainRows);
        Assert.Equal(r.Release.TestImages, prep[0].TestRows);
        Assert.Equal(750, prep[0].TrainTrials + prep[0].TestTrials);
        // The same betas written both ways prepare to the same bytes.
        foreach (var split in NsdSubject.Splits)
            Assert.Equal(File.ReadAllBytes(NsdSubject.FmriPathOf(prep[0].OutDir, 2, split)),
                File.ReadAllBytes(NsdSubject.FmriPathOf(prep[1].OutDir, 2, split)));

        // Prepared rows follow the synthetic subject's noiseless signal (same row order: first appearance).
        var fmri = Npy.Read(NsdSubject.FmriPathOf(prep[0].OutDir, 2, "train")).ToFloat64();
        var signal = Npy.Read(Path.Combine(rn, "ground_truth", "subj02_train_signal.npy")).ToFloat64();
        int n = prep[0].TrainRows, nv = prep[0].Voxels;
        Assert.Equal(fmri.Length, signal.Length);
        var corr = Enumerable.Range(0, nv).Select(v => Corr(n, i => fmri[i * nv + v], i => signal[i * nv + v]))
            .Order().ToArray();
        Assert.True(corr[nv / 2] > 0.4, $"median voxel correlation with the world's signal {corr[nv / 2]:F3}");
        Assert.Equal(NsdSubject.Open(prep[0].OutDir, 2).Voxels, nv);
    }

    static double Corr(int n, Func<int, double> a, Func<int, double> b)
    {
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) { ma += a(i); mb += b(i); }
        ma /= n; mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++)
        {
            double x = a(i) - ma, y = b(i) - mb;
            sab += x * y; saa += x * x; sbb += y * y;
        }
        return sab / Math.Sqrt(saa * sbb);
    }
}
