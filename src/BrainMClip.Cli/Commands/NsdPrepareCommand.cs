using System.CommandLine;
using BrainMClip.Data;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip nsd prepare`: the NSD release as downloaded → Brain-Diffuser's prepared layout
/// (docs/data.md).</summary>
public sealed class NsdPrepareCommand : StageCommand<NsdPrepareOptions, NsdPrepareResult>
{
    public override string[] Path => ["nsd", "prepare"];
    public override string Description =>
        "Prepare one NSD subject from the release as downloaded (nsd_expdesign.mat, the 1.8 mm " +
        "betas_fithrf_GLMdenoise_RR sessions as .nii.gz or .hdf5, nsd_stimuli.hdf5, the ROI masks) into the " +
        "Brain-Diffuser layout that data info, features and train read, with the rows, order and values of " +
        "Brain-Diffuser's prepare_nsddata.py: trial t shows image subjectim[N-1, masterordering[t]-1]-1; " +
        "masterordering > 1000 is training, the rest test; rows are the distinct images in order of first " +
        "appearance; a row is the mean over the image's trials of the nsdgeneral voxels (mask > 0, C order of " +
        "[x,y,z]) as float32 betas in the file's own units (NSD: percent signal change x300; data info's " +
        "--beta-scale auto divides by 300), stored as float64 like Brain-Diffuser. Differences: stimuli are " +
        "stored as uint8 (Brain-Diffuser: the same 0-255 values as float64, 8x larger); also written: " +
        "nsd_{train,test}_nsdid_subN.npy (0-based 73k ids, int64), copies of the ROI masks and prepare.json. " +
        "Streams one session at a time: peak memory is about 4 bytes x images x nsdgeneral voxels plus one session " +
        "(750 x voxels x 4 bytes) - about 0.7 GB for subject 1 with all sessions (10,000 images x 15,724 voxels). " +
        "Nothing is left behind on failure (everything is staged under OUT/.nsd-prepare-*, prepare.json last).";

    readonly Option<string> root = new("--nsd-root")
    {
        Description = "NSD release root (holds nsddata/, nsddata_betas/, nsddata_stimuli/).",
        Required = true,
    };
    readonly Option<int> subject = new("--subject")
    { Description = "NSD subject 1..8 (Brain-Diffuser used 1, 2, 5, 7: those with all 40 sessions).", Required = true };
    readonly Option<string> output = new("--out")
    {
        Description = "Data root to write (processed_data/subj0N/, nsddata/ppdata/subj0N/func1pt8mm/roi/); may be " +
            "the NSD root itself, as in Brain-Diffuser.",
        Required = true,
    };
    readonly Option<int?> sessions = new("--sessions")
    {
        Description = "Use sessions 1..K (default: every consecutive session present). Brain-Diffuser's script " +
            "reads 37 sessions (37*750 trials); pass --sessions 37 to match it on subjects with 40.",
    };
    readonly Option<string?> betas = new("--betas")
    {
        Description = "Betas files: auto (the default: betas_sessionNN.nii.gz if session 1 has one, else .hdf5), " +
            "nifti or hdf5.",
    };
    readonly Option<bool> zscore = new("--zscore-sessions")
    {
        Description = "MindEye's convention: z-score each voxel over the 750 trials of its session (ddof 0; a " +
            "constant voxel becomes 0) before averaging. Default off: Brain-Diffuser's raw betas.",
    };
    readonly Option<bool> force = new("--force")
    { Description = "Replace this subject's prepared files if --out already holds them." };

    protected override Option[] Options => [root, subject, output, sessions, betas, zscore, force];

    protected override void ConfigureOptions() => betas.AcceptOnlyFromAmong("auto", "nifti", "hdf5");

    public override NsdPrepareOptions Bind(ParseResult parse, CancellationToken cancel)
    {
        return new NsdPrepareOptions
        {
            NsdRoot = parse.GetValue(root)!,
            Subject = parse.GetValue(subject),
            OutDir = parse.GetValue(output)!,
            Sessions = parse.GetValue(sessions),
            Format = parse.GetValue(betas) switch
            {
                "nifti" => NsdBetasFormat.Nifti,
                "hdf5" => NsdBetasFormat.Hdf5,
                _ => null,
            },
            ZScoreSessions = parse.GetValue(zscore),
            Force = parse.GetValue(force),
        };
    }

    public override NsdPrepareResult Execute(NsdPrepareOptions request) => NsdPrepare.Run(request);

    public override object Report(NsdPrepareOptions request, NsdPrepareResult r) => new
    {
        data = System.IO.Path.GetFullPath(r.OutDir),
        subject = r.Subject,
        betas_format = r.Format == NsdBetasFormat.Nifti ? "nifti" : "hdf5",
        sessions = r.Sessions,
        sessions_available = r.SessionsAvailable,
        zscore_sessions = r.ZScored,
        train_samples = r.TrainRows,
        test_samples = r.TestRows,
        train_trials = r.TrainTrials,
        test_trials = r.TestTrials,
        voxels = r.Voxels,
        image_shape = r.ImageShape,
        manifest = System.IO.Path.GetFullPath(r.Manifest),
    };
}
