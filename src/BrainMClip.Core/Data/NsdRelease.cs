using BrainMClip.IO;

namespace BrainMClip.Data;

/// <summary>How a session's single-trial betas are stored in the NSD release.</summary>
public enum NsdBetasFormat { Nifti, Hdf5 }

/// <summary>
/// Paths and constants of the Natural Scenes Dataset release as downloaded (NSD data manual): the experimental design,
/// the 1.8 mm single-trial betas (betas_fithrf_GLMdenoise_RR), the stimuli and the ROI masks.
/// </summary>
public static class NsdRelease
{
    public const int TrialsPerSession = 750;
    public const int MaxSessions = 40;
    public const int ImagesPerSubject = 10_000;
    public const int SharedImages = 1_000;
    public const int Stimuli = 73_000;
    public const int Subjects = 8;
    public const int TotalTrials = MaxSessions * TrialsPerSession;
    /// <summary>NSD betas are percent signal change ×300, stored as int16.</summary>
    public const double BetaUnits = 300;

    public static string DesignPath(string root) =>
        Path.Combine(root, "nsddata", "experiments", "nsd", "nsd_expdesign.mat");
    public static string BetasDir(string root, int subject) =>
        Path.Combine(root, "nsddata_betas", "ppdata", $"subj{subject:00}", "func1pt8mm", "betas_fithrf_GLMdenoise_RR");
    public static string SessionPath(string root, int subject, int session, NsdBetasFormat format) =>
        Path.Combine(BetasDir(root, subject),
            $"betas_session{session:00}" + (format == NsdBetasFormat.Nifti ? ".nii.gz" : ".hdf5"));
    public static string StimuliPath(string root) =>
        Path.Combine(root, "nsddata_stimuli", "stimuli", "nsd", "nsd_stimuli.hdf5");
    public static string RoiDir(string root, int subject) =>
        Path.Combine(root, "nsddata", "ppdata", $"subj{subject:00}", "func1pt8mm", "roi");
    public static string RoiPath(string root, int subject, string mask) =>
        Path.Combine(RoiDir(root, subject), mask + ".nii.gz");

    /// <summary>The stimulus dataset inside <see cref="StimuliPath"/>: 73000×H×W×3 uint8, channels last.</summary>
    public const string StimuliDataset = "imgBrick";
    /// <summary>The betas dataset of an HDF5 session: 750×Z×Y×X int16 (the NIfTI's dims reversed).</summary>
    public const string BetasDataset = "betas";

    /// <summary>Sessions 1, 2, ... whose betas file exists in <paramref name="format"/>, up to the first gap.</summary>
    public static int ConsecutiveSessions(string root, int subject, NsdBetasFormat format)
    {
        int k = 0;
        while (k < MaxSessions && File.Exists(SessionPath(root, subject, k + 1, format))) k++;
        return k;
    }
}

/// <summary>
/// NSD's experimental design (nsd_expdesign.mat): <c>masterordering</c> (1×30000, the 10k-index shown in each trial,
/// 1-based), <c>subjectim</c> (8×10000, the 73k-id of each subject's 10k images, 1-based) and <c>sharedix</c> (1×1000,
/// the 73k-ids of the shared images). Everything is checked on reading.
/// </summary>
public sealed class NsdDesign
{
    public required string Path { get; init; }
    /// <summary>1-based 10k-index of each of the 30000 trials.</summary>
    public required int[] MasterOrdering { get; init; }
    /// <summary>[subject][10k-index] → 1-based 73k-id.</summary>
    public required int[][] SubjectIm { get; init; }
    /// <summary>1-based 73k-ids of the 1000 shared images.</summary>
    public required int[] SharedIx { get; init; }

    public static NsdDesign Read(string path)
    {
        UserInputException.RequireFile(path, "NSD design file (nsd_expdesign.mat)");
        var mat = MatFile.Read(path);
        var mo = mat.Numeric("masterordering", "a 1×30000 matrix of 10k-indices (1..10000)");
        var si = mat.Numeric("subjectim", "an 8×10000 matrix of 73k-ids (1..73000)");
        var sh = mat.Numeric("sharedix", "a 1×1000 matrix of 73k-ids (1..73000)");
        if (si.Dims.Length != 2 || si.Dims[0] != NsdRelease.Subjects || si.Dims[1] != NsdRelease.ImagesPerSubject)
            throw new UserInputException(
                $"{path}: variable 'subjectim' has dims {string.Join("×", si.Dims)}; expected 8×10000");
        var master = mo.ToInt32(NsdRelease.TotalTrials, 1, NsdRelease.ImagesPerSubject, "masterordering (1×30000)");
        var flat = si.ToInt32(NsdRelease.Subjects * NsdRelease.ImagesPerSubject, 1, NsdRelease.Stimuli,
            "subjectim (8×10000)");
        var shared = sh.ToInt32(NsdRelease.SharedImages, 1, NsdRelease.Stimuli, "sharedix (1×1000)");
        var rows = Enumerable.Range(0, NsdRelease.Subjects)
            .Select(s => flat.AsSpan(s * NsdRelease.ImagesPerSubject, NsdRelease.ImagesPerSubject).ToArray())
            .ToArray();
        return new NsdDesign { Path = path, MasterOrdering = master, SubjectIm = rows, SharedIx = shared };
    }

    /// <summary>0-based 73k-id shown to <paramref name="subject"/> (1-based) in trial <paramref name="trial"/>
    /// (0-based): subjectim[subject−1, masterordering[trial]−1] − 1.</summary>
    public int ImageOf(int subject, int trial) => SubjectIm[subject - 1][MasterOrdering[trial] - 1] - 1;

    /// <summary>Training trials show one of the subject's own 9000 images (masterordering &gt; 1000); the others show
    /// the shared 1000 (the test split).</summary>
    public bool IsTrain(int trial) => MasterOrdering[trial] > NsdRelease.SharedImages;

    /// <summary>
    /// Brain-Diffuser's rows for the first <paramref name="trials"/> trials: per split (0 train, 1 test) the distinct
    /// 0-based image ids in order of first appearance, and for each trial its (split, row).
    /// </summary>
    public (List<int>[] Ids, (int Split, int Row)[] Map) RowsByFirstAppearance(int subject, int trials)
    {
        var ids = new[] { new List<int>(), new List<int>() };
        var rowOf = new[] { new Dictionary<int, int>(), new Dictionary<int, int>() };
        var map = new (int, int)[trials];
        for (int t = 0; t < trials; t++)
        {
            int split = IsTrain(t) ? 0 : 1, id = ImageOf(subject, t);
            if (!rowOf[split].TryGetValue(id, out int row))
            {
                row = ids[split].Count;
                rowOf[split][id] = row;
                ids[split].Add(id);
            }
            map[t] = (split, row);
        }
        return (ids, map);
    }
}
