using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Data;

/// <summary>What <see cref="NsdPrepare.Run"/> reads and writes.</summary>
public sealed record NsdPrepareOptions
{
    /// <summary>The NSD release root (holding nsddata/, nsddata_betas/, nsddata_stimuli/).</summary>
    public required string NsdRoot { get; init; }
    public required int Subject { get; init; }
    /// <summary>The data root to write (docs/data.md layout).</summary>
    public required string OutDir { get; init; }
    /// <summary>Use sessions 1..K; null = every consecutive session present.</summary>
    public int? Sessions { get; init; }
    /// <summary>Null = NIfTI when session 1 exists as .nii.gz, else HDF5.</summary>
    public NsdBetasFormat? Format { get; init; }
    /// <summary>MindEye's convention: z-score each voxel over the 750 trials of its session before averaging.</summary>
    public bool ZScoreSessions { get; init; }
    /// <summary>Replace an already prepared subject in <see cref="OutDir"/>.</summary>
    public bool Force { get; init; }
}

/// <summary>What <see cref="NsdPrepare.Run"/> wrote.</summary>
public sealed record NsdPrepareResult(string OutDir, int Subject, int Sessions, int SessionsAvailable,
    NsdBetasFormat Format, bool ZScored, int TrainRows, int TestRows, int TrainTrials, int TestTrials, int Voxels,
    int[] ImageShape, string Manifest);

/// <summary>
/// Turns the NSD release into Brain-Diffuser's prepared layout (docs/data.md) with the rows, order and values of its
/// prepare_nsddata.py: trial t (0-based over the sessions used) shows 73k-image subjectim[N−1, masterordering[t]−1]−1;
/// trials with masterordering &gt; 1000 are training, the others test; each split's rows are its distinct images in
/// order of first appearance; a row is the mean, over that image's trials, of the nsdgeneral voxels (mask &gt; 0, C
/// order of [x,y,z]) as float32 betas in the file's own units (NSD: percent signal change ×300), summed in trial order
/// and divided in float32 as numpy does, stored as float64 like Brain-Diffuser's files. Stimuli are the imgBrick rows
/// as uint8 (Brain-Diffuser stores the same 0–255 values as float64, 8× larger). One session is in memory at a time;
/// everything is written under a temporary folder inside the output and moved into place at the end (prepare.json
/// last), so a failure leaves nothing partial.
/// </summary>
public static partial class NsdPrepare
{
    /// <summary>The checked inputs and the trial → row mapping.</summary>
    sealed class Plan
    {
        public required NsdPrepareOptions Options { get; init; }
        public required NsdDesign Design { get; init; }
        public required NsdBetasFormat Format { get; init; }
        public required int Sessions { get; init; }
        public required int SessionsAvailable { get; init; }
        public required int[] Grid { get; init; }
        /// <summary>C-order indices of the nsdgeneral voxels.</summary>
        public required int[] Voxels { get; init; }
        public required int[] ImageShape { get; init; }
        /// <summary>Per split (0 train, 1 test): 0-based 73k-ids in row order.</summary>
        public required List<int>[] Ids { get; init; }
        /// <summary>Per trial: split (0/1) and row.</summary>
        public required (int Split, int Row)[] Trials { get; init; }
        public required int[][] Repetitions { get; init; }
        public required List<string> Sources { get; init; }
    }

    static readonly string[] SplitNames = ["train", "test"];

    public static NsdPrepareResult Run(NsdPrepareOptions o, TextWriter? progress = null)
    {
        var log = progress ?? Console.Error;
        var plan = MakePlan(o);
        string tmp = Path.Combine(o.OutDir, $".nsd-prepare-subj{o.Subject:00}-{Guid.NewGuid():N}");
        bool created = !Directory.Exists(o.OutDir);
        bool done = false;
        try
        {
            try { Directory.CreateDirectory(tmp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserInputException($"{o.OutDir}: cannot write the prepared data there ({e.Message})");
            }
            WriteFmri(plan, tmp, log);
            WriteStimuli(plan, tmp, log);
            WriteIdsAndMasks(plan, tmp);
            WriteManifest(plan, tmp);
            Publish(plan, tmp);
            done = true;
        }
        finally
        {
            try
            {
                if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
                // A failed run into a new folder leaves no folder either.
                if (!done && created && Directory.Exists(o.OutDir)
                    && !Directory.EnumerateFileSystemEntries(o.OutDir).Any())
                    Directory.Delete(o.OutDir);
            }
            catch (IOException) { /* a leftover temp folder must not hide the real error */ }
        }
        int trainTrials = plan.Trials.Count(t => t.Split == 0);
        return new NsdPrepareResult(o.OutDir, o.Subject, plan.Sessions, plan.SessionsAvailable, plan.Format,
            o.ZScoreSessions, plan.Ids[0].Count, plan.Ids[1].Count, trainTrials, plan.Trials.Length - trainTrials,
            plan.Voxels.Length, plan.ImageShape, ManifestPath(o.OutDir, o.Subject));
    }

    public static string ManifestPath(string outDir, int subject) =>
        Path.Combine(outDir, "processed_data", $"subj{subject:00}", "prepare.json");

    public static string IdsPath(string outDir, int subject, string split) =>
        Path.Combine(outDir, "processed_data", $"subj{subject:00}", $"nsd_{split}_nsdid_sub{subject}.npy");

    /// <summary>Every check that can be made before reading betas: design, masks, session headers, stimuli.</summary>
    static Plan MakePlan(NsdPrepareOptions o)
    {
        UserInputException.Require(o.Subject is >= 1 and <= NsdRelease.Subjects, nameof(o.Subject),
            $"subject {o.Subject} is out of range (NSD has subjects 1..8)");
        UserInputException.Require(o.Sessions is null or (>= 1 and <= NsdRelease.MaxSessions), nameof(o.Sessions),
            $"{o.Sessions} sessions is out of range (1..{NsdRelease.MaxSessions})");
        UserInputException.RequireDirectory(o.NsdRoot, "NSD release root");
        CheckOutput(o);
        var sources = new List<string>();
        var design = NsdDesign.Read(NsdRelease.DesignPath(o.NsdRoot));
        sources.Add(design.Path);
        var (format, sessions, available) = ChooseSessions(o);

        var masks = new Dictionary<string, NiftiVolume>();
        foreach (var m in NsdRois.AllMasks)
        {
            string p = NsdRelease.RoiPath(o.NsdRoot, o.Subject, m);
            UserInputException.RequireFile(p, $"ROI mask {m}");
            masks[m] = Nifti.Read(p);
            sources.Add(p);
        }
        VoxelSplit.FromMasks(masks); // same grid for every mask
        var general = masks[NsdRois.NsdGeneral];
        var voxels = Enumerable.Range(0, general.Values.Length).Where(i => general.Values[i] > 0).ToArray();
        if (voxels.Length == 0)
            throw new UserInputException($"{general.Path}: the nsdgeneral mask has no voxel > 0");

        for (int s = 1; s <= sessions; s++)
        {
            string p = NsdRelease.SessionPath(o.NsdRoot, o.Subject, s, format);
            using (NsdBetaSession.Open(p, format, general.Shape)) sources.Add(p);
        }
        var imageShape = CheckStimuli(NsdRelease.StimuliPath(o.NsdRoot));
        sources.Add(NsdRelease.StimuliPath(o.NsdRoot));

        int trials = sessions * NsdRelease.TrialsPerSession;
        var (ids, map) = design.RowsByFirstAppearance(o.Subject, trials);
        var reps = ids.Select(l => new int[l.Count]).ToArray();
        foreach (var (split, row) in map) reps[split][row]++;
        if (ids[0].Count == 0 || ids[1].Count == 0)
            throw new UserInputException(
                $"{design.Path}: sessions 1..{sessions} of subject {o.Subject} hold {ids[0].Count} training and " +
                $"{ids[1].Count} test images; both splits need at least one");
        return new Plan
        {
            Options = o,
            Design = design,
            Format = format,
            Sessions = sessions,
            SessionsAvailable = available,
            Grid = general.Shape,
            Voxels = voxels,
            ImageShape = imageShape,
            Ids = ids,
            Trials = map,
            Repetitions = reps,
            Sources = sources,
        };
    }

    static void CheckOutput(NsdPrepareOptions o)
    {
        if (File.Exists(o.OutDir))
            throw new UserInputException($"{o.OutDir}: the output must be a folder, but a file has that name");
        string fmri = NsdSubject.FmriPathOf(o.OutDir, o.Subject, "train");
        string manifest = ManifestPath(o.OutDir, o.Subject);
        if (!o.Force && (File.Exists(fmri) || File.Exists(manifest)))
            throw new UserInputException(
                $"{(File.Exists(manifest) ? manifest : fmri)}: subject {o.Subject} is already prepared in this " +
                "output folder; choose another folder or ask to replace it");
        // Temp folders of an earlier run of this subject that was killed.
        if (Directory.Exists(o.OutDir))
            foreach (var d in Directory.EnumerateDirectories(o.OutDir, $".nsd-prepare-subj{o.Subject:00}-*"))
                try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    /// <summary>The betas format and the number of sessions to use (and how many consecutive ones exist).</summary>
    static (NsdBetasFormat Format, int Sessions, int Available) ChooseSessions(NsdPrepareOptions o)
    {
        var format = o.Format ?? (File.Exists(NsdRelease.SessionPath(o.NsdRoot, o.Subject, 1, NsdBetasFormat.Nifti))
            || !File.Exists(NsdRelease.SessionPath(o.NsdRoot, o.Subject, 1, NsdBetasFormat.Hdf5))
            ? NsdBetasFormat.Nifti : NsdBetasFormat.Hdf5);
        int available = NsdRelease.ConsecutiveSessions(o.NsdRoot, o.Subject, format);
        if (available == 0)
        {
            string want = o.Format is null
                ? $"{NsdRelease.SessionPath(o.NsdRoot, o.Subject, 1, NsdBetasFormat.Nifti)} or .hdf5"
                : NsdRelease.SessionPath(o.NsdRoot, o.Subject, 1, format);
            throw new UserInputException($"{want}: session 1 betas not found (single-trial betas of subject " +
                $"{o.Subject}, betas_fithrf_GLMdenoise_RR at 1.8 mm)");
        }
        int sessions = o.Sessions ?? available;
        if (sessions > available)
            throw new UserInputException(
                $"{NsdRelease.SessionPath(o.NsdRoot, o.Subject, available + 1, format)}: session {available + 1} " +
                $"betas not found ({sessions} sessions requested, sessions 1..{available} present)");
        return (format, sessions, available);
    }

    /// <summary>Checks imgBrick is 73000×H×W×3 bytes; returns [H, W, 3].</summary>
    static int[] CheckStimuli(string path)
    {
        UserInputException.RequireFile(path, "NSD stimuli file (nsd_stimuli.hdf5)");
        using var f = Hdf5File.Open(path);
        var ds = f.Dataset(NsdRelease.StimuliDataset);
        var d = ds.Dims;
        if (d.Length != 4 || d[0] != NsdRelease.Stimuli || d[3] != 3 || ds.TypeSize != 1 || d[1] > 4096
            || d[2] > 4096 || d[1] == 0 || d[2] == 0)
            throw new UserInputException(
                $"{path}:{NsdRelease.StimuliDataset}: has shape ({string.Join(", ", d)}) of {ds.TypeSize}-byte " +
                $"elements; expected (73000, H, W, 3) uint8");
        return [(int)d[1], (int)d[2], 3];
    }
}
