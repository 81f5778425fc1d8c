using BrainMClip.Data;
using BrainMClip.IO;
using PureHDF;
using PureHDF.Filters;
using PureHDF.VOL.Native;

namespace BrainMClip.Simulation;

/// <summary>Settings of a miniature NSD release (<see cref="SyntheticNsd.GenerateRelease"/>).</summary>
public sealed record NsdReleaseSpec
{
    public NsdBetasFormat Betas { get; init; } = NsdBetasFormat.Nifti;
    /// <summary>Sessions 1..K get betas files (the design always covers all 40).</summary>
    public int Sessions { get; init; } = 3;
    /// <summary>Per-trial noise (standard deviation, in the synthetic subject's units) added to each trial.</summary>
    public double TrialNoise { get; init; } = 0.5;
}

/// <summary>What a miniature release holds, beyond <see cref="SynthResult"/>.</summary>
public sealed record NsdReleaseInfo(int Sessions, NsdBetasFormat Betas, int TrainImages, int TestImages,
    int TrainTrials, int TestTrials, long Bytes);

public static partial class SyntheticNsd
{
    public const int MaxReleaseImageSize = 32;

    /// <summary>
    /// Writes a miniature NSD release under <see cref="SynthOptions.OutDir"/> with the real constants (750 trials per
    /// session, 10,000 images per subject whose first 1,000 are the shared <c>sharedix</c>, a 30,000-trial
    /// masterordering showing each image 3 times, 73,000 stimuli) but a small grid and small images. The voxel
    /// responses come from the synthetic world: a synthetic subject is generated for the distinct images of the
    /// sessions written (training images first, in order of first appearance, then the shared ones), and each trial's
    /// betas are that image's responses plus trial noise, ×300 as int16 (NSD's units). So preparing the release
    /// (`nsd prepare`) gives back that subject with more noise, and its ground truth is under ground_truth/.
    /// imgBrick rows of images never shown in those sessions are black.
    /// </summary>
    public static SynthResult GenerateRelease(SynthOptions o, TextWriter? progress = null)
    {
        var spec = o.NsdRelease ?? throw new ArgumentException("no release settings", nameof(o));
        ValidateRelease(o, spec);
        var log = progress ?? Console.Error;
        string root = o.OutDir;
        var rng = new Random(o.Seed);
        var (master, subjectIm, shared) = ReleaseDesign(rng);
        MatFile.Write(NsdRelease.DesignPath(root),
        [
            ("masterordering", [1, NsdRelease.TotalTrials], master.Select(x => (double)x).ToArray()),
            ("subjectim", [NsdRelease.Subjects, NsdRelease.ImagesPerSubject],
                subjectIm.SelectMany(r => r).Select(x => (double)x).ToArray()),
            ("sharedix", [1, NsdRelease.SharedImages], shared.Select(x => (double)x).ToArray()),
        ]);
        var design = NsdDesign.Read(NsdRelease.DesignPath(root));

        // The distinct images of the sessions written, per split, in order of first appearance.
        int trials = spec.Sessions * NsdRelease.TrialsPerSession;
        var (ids, map) = design.RowsByFirstAppearance(o.Subject, trials);
        var trialRow = map.Select(m => m.Split == 0 ? m.Row : -1 - m.Row).ToArray();

        string work = Path.Combine(root, $".synth-subject-{Guid.NewGuid():N}");
        try
        {
            var sub = Generate(o with { OutDir = work, Train = ids[0].Count, Test = ids[1].Count, NsdRelease = null },
                log);
            WriteReleaseFiles(o, spec, work, ids, trialRow, log);
            CopyDirectory(Path.Combine(work, "ground_truth"), Path.Combine(root, "ground_truth"));
            long bytes = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Where(f => !f.StartsWith(work, StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
            int trainTrials = trialRow.Count(r => r >= 0);
            return sub with
            {
                DataRoot = root,
                GroundTruthJson = Path.Combine(root, "ground_truth", Path.GetFileName(sub.GroundTruthJson)),
                Release = new NsdReleaseInfo(spec.Sessions, spec.Betas, ids[0].Count, ids[1].Count, trainTrials,
                    trials - trainTrials, bytes),
            };
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    static void ValidateRelease(SynthOptions o, NsdReleaseSpec spec)
    {
        UserInputException.Require(o.Subject is >= 1 and <= NsdRelease.Subjects, nameof(o.Subject),
            $"subject {o.Subject} is out of range (NSD has subjects 1..8)");
        UserInputException.Require(spec.Sessions is >= 1 and <= NsdRelease.MaxSessions, nameof(spec.Sessions),
            $"{spec.Sessions} sessions is out of range (1..{NsdRelease.MaxSessions})");
        UserInputException.Require(o.ImageSize <= MaxReleaseImageSize, nameof(o.ImageSize),
            $"image size {o.ImageSize} is too large for a miniature release (at most {MaxReleaseImageSize}: " +
            "imgBrick holds all 73,000 images)");
    }

    /// <summary>masterordering (each 10k-index 3 times, shuffled), subjectim (8 subjects × 10,000 distinct
    /// 73k-ids, the first 1,000 = sharedix) and sharedix, all 1-based.</summary>
    static (int[] Master, int[][] SubjectIm, int[] Shared) ReleaseDesign(Random rng)
    {
        var all = Enumerable.Range(1, NsdRelease.Stimuli).ToArray();
        rng.Shuffle(all);
        var shared = all[..NsdRelease.SharedImages];
        var rest = all[NsdRelease.SharedImages..];
        var subjectIm = new int[NsdRelease.Subjects][];
        for (int s = 0; s < NsdRelease.Subjects; s++)
        {
            rng.Shuffle(rest);
            subjectIm[s] = [.. shared, .. rest[..(NsdRelease.ImagesPerSubject - NsdRelease.SharedImages)]];
        }
        var master = Enumerable.Range(0, NsdRelease.TotalTrials).Select(i => i % NsdRelease.ImagesPerSubject + 1)
            .ToArray();
        rng.Shuffle(master);
        return (master, subjectIm, shared);
    }

    /// <summary>Betas sessions, imgBrick and ROI masks of the release from the synthetic subject in
    /// <paramref name="work"/>.</summary>
    static void WriteReleaseFiles(SynthOptions o, NsdReleaseSpec spec, string work, List<int>[] ids, int[] trialRow,
        TextWriter log)
    {
        string root = o.OutDir;
        int n = o.Subject;
        var masks = NsdRois.AllMasks.ToDictionary(m => m, m => Nifti.Read(NsdSubject.RoiPathOf(work, n, m)));
        foreach (var m in NsdRois.AllMasks)
            File.Copy(NsdSubject.RoiPathOf(work, n, m), NsdRelease.RoiPath(root, n, m).EnsureFolder(), true);
        var general = masks[NsdRois.NsdGeneral];
        var fmri = NsdSubject.Splits.Select(s => Npy.Read(NsdSubject.FmriPathOf(work, n, s)).ToFloat64()).ToArray();
        int nv = general.Values.Count(v => v > 0), vol = general.Values.Length;
        var noise = new Random(o.Seed + 1);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - noise.NextDouble())) * Math.Cos(2 * Math.PI * noise.NextDouble());
        short Beta(double x) => (short)Math.Clamp(Math.Round(NsdRelease.BetaUnits * x), short.MinValue, short.MaxValue);

        using var bar = new ProgressBar("synth: release betas", trialRow.Length, "trial", log);
        for (int s = 0; s < spec.Sessions; s++)
        {
            // One session's volumes, C order over [x,y,z] per trial: nsdgeneral voxels carry the image's response.
            var betas = new short[NsdRelease.TrialsPerSession * vol];
            for (int j = 0; j < NsdRelease.TrialsPerSession; j++)
            {
                int r = trialRow[s * NsdRelease.TrialsPerSession + j];
                var row = r >= 0 ? fmri[0].AsSpan(r * nv, nv) : fmri[1].AsSpan((-1 - r) * nv, nv);
                for (int i = 0, v = 0; i < vol; i++)
                {
                    double g = general.Values[i];
                    double x = g > 0 ? row[v++] + spec.TrialNoise * Gauss() : g == 0 ? spec.TrialNoise * Gauss() : 0;
                    betas[j * vol + i] = Beta(x);
                }
                bar.Advance();
            }
            WriteSession(NsdRelease.SessionPath(root, n, s + 1, spec.Betas), spec.Betas, general.Shape, betas);
        }
        WriteImgBrick(root, work, n, o.ImageSize, ids);
    }

    static void WriteSession(string path, NsdBetasFormat format, int[] grid, short[] betas)
    {
        int nx = grid[0], ny = grid[1], nz = grid[2], vol = nx * ny * nz, T = NsdRelease.TrialsPerSession;
        path.EnsureFolder();
        if (format == NsdBetasFormat.Nifti)
        {
            Nifti.WriteSeries(path, grid, T, t =>
            {
                var v = new double[vol];
                for (int i = 0; i < vol; i++) v[i] = betas[t * vol + i];
                return v;
            }, NiftiDataType.Int16);
            return;
        }
        // HDF5: 750×Z×Y×X (x fastest), chunked per 25 trials and deflated, as a real session file would be.
        var rev = new short[betas.Length];
        for (int t = 0; t < T; t++)
            for (int x = 0; x < nx; x++)
                for (int y = 0; y < ny; y++)
                    for (int z = 0; z < nz; z++)
                        rev[t * vol + (z * ny + y) * nx + x] = betas[t * vol + (x * ny + y) * nz + z];
        WriteH5(path, NsdRelease.BetasDataset, rev, [(ulong)T, (ulong)nz, (ulong)ny, (ulong)nx],
            [25, (uint)nz, (uint)ny, (uint)nx]);
    }

    /// <summary>imgBrick: the synthetic images at their 73k-ids, black elsewhere (deflated, so the zeros cost
    /// little).</summary>
    static void WriteImgBrick(string root, string work, int subject, int S, List<int>[] ids)
    {
        int px = S * S * 3;
        var brick = new byte[(long)NsdRelease.Stimuli * px];
        for (int split = 0; split < 2; split++)
        {
            var stim = Npy.Read(NsdSubject.StimuliPathOf(work, subject, NsdSubject.Splits[split])).Data;
            for (int r = 0; r < ids[split].Count; r++)
                stim.AsSpan(r * px, px).CopyTo(brick.AsSpan(ids[split][r] * px, px));
        }
        WriteH5(NsdRelease.StimuliPath(root).EnsureFolder(), NsdRelease.StimuliDataset, brick,
            [NsdRelease.Stimuli, (ulong)S, (ulong)S, 3], [512, (uint)S, (uint)S, 3]);
    }

    static void WriteH5<T>(string path, string name, T[] data, ulong[] dims, uint[] chunks) where T : unmanaged
    {
        var creation = new H5DatasetCreation(Filters: [new H5Filter(DeflateFilter.Id)]);
        var file = new H5File
        { [name] = new H5Dataset(data, fileDims: dims, chunks: chunks, datasetCreation: creation) };
        // PureHDF needs a seekable read-write stream, which AtomicFile's is not: the same temp + rename by hand.
        string tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!,
            $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            file.Write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }

    static void CopyDirectory(string from, string to)
    {
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)).EnsureFolder(), true);
    }

    static string EnsureFolder(this string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return path;
    }
}
