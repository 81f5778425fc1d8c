using System.CommandLine;
using BrainMClip.Data;
using BrainMClip.Simulation;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip synth`: writes a seeded synthetic NSD-like subject in the layout of docs/data.md.</summary>
public sealed class SynthCommand : StageCommand<SynthOptions, SynthResult>
{
    static readonly SynthOptions D = Defaults.Of<SynthOptions>();

    public override string[] Path => ["synth"];
    public override string Description =>
        "Generate a seeded synthetic NSD-like subject in exactly the Brain-Diffuser layout, with ROI NIfTI masks and " +
        "the ground truth under DATA/ground_truth/. --world hierarchical (default): scenes of face-, body-, place- " +
        "and word-like objects; retinotopic prf voxels with compressive responses to local contrast/colour energy; " +
        "position- and size-tolerant, saturating category-selective floc voxels; mixed voxels elsewhere; " +
        "independent, shared and spatially smooth noise averaged over repetitions, with NSD-style noise ceilings. " +
        "--world linear: geometric shapes, voxels linear in pooled features and category counts, independent noise.";

    readonly Option<string> output = new Option<string>("--out")
    { Description = "Data root to write (must be empty or absent unless --force).", Required = true };
    readonly Option<int> subject = new Option<int>("--subject")
    { Description = "Subject number (1-based; folder subj0N).", DefaultValueFactory = _ => D.Subject };
    readonly Option<int> train = new Option<int>("--train")
    {
        Description = "Number of training images (rows of the training fMRI matrix).",
        DefaultValueFactory = _ => D.Train
    };
    readonly Option<int> test = new Option<int>("--test")
    { Description = "Number of test images.", DefaultValueFactory = _ => D.Test };
    readonly Option<int> size = new Option<int>("--image-size")
    { Description = "Image height and width in pixels.", DefaultValueFactory = _ => D.ImageSize };
    readonly Option<int> seed = new Option<int>("--seed")
    { Description = "Random seed; the same seed gives the same files.", DefaultValueFactory = _ => D.Seed };
    readonly Option<string> world = new Option<string>("--world")
    {
        Description = "Simulated world: hierarchical (default) or linear.",
        DefaultValueFactory = _ => WorldName(D.World),
    };
    readonly Option<int?> cats = new Option<int?>("--categories")
    {
        Description =
            "Linear world only: number of object categories K (1-8: disc, square, triangle, cross, ring, " +
                      "star, bar, grid; default 8).",
    };
    readonly Option<double?> snr = new Option<double?>("--snr")
    {
        Description = "Signal-to-noise ratio (variance) of one repetition (default: hierarchical " +
                      $"{SyntheticNsd.HierarchicalDefaultSnr}, linear 1.0).",
    };
    readonly Option<double> prfColour = new Option<double>("--prf-colour")
    {
        Description = "Hierarchical world: weight of a signed local colour term (mean luminance and opponent colour " +
            "under each voxel's receptive field) beside the edge energy in the low-level drive. 0 = edge energy " +
            $"only (the evidence studies' world); the demo uses {SyntheticNsd.DemoPrfColour}.",
        DefaultValueFactory = _ => D.PrfColour,
    };
    readonly Option<int> reps = new Option<int>("--repetitions")
    {
        Description = "Repetitions per image, averaged (hierarchical: at least 2, for the noise ceiling).",
        DefaultValueFactory = _ => D.Repetitions,
    };
    readonly Option<string> dtype = new Option<string>("--fmri-dtype")
    {
        Description = "Element type of the fMRI matrices: float32 or float64.",
        DefaultValueFactory = _ => D.FmriDType
    };
    readonly Option<bool> force = new Option<bool>("--force")
    { Description = "Write into a non-empty --out folder (files of the layout are replaced)." };

    protected override Option[] Options =>
        [output, subject, train, test, size, seed, world, cats, snr, prfColour, reps, dtype, force];

    protected override void ConfigureOptions()
    {
        world.AcceptOnlyFromAmong(WorldName(SynthWorld.Hierarchical), WorldName(SynthWorld.Linear));
        dtype.AcceptOnlyFromAmong("float32", "float64");
    }

    public override SynthOptions Bind(ParseResult parse, CancellationToken cancel)
    {
        string outDir = parse.GetValue(output)!;
        if (File.Exists(outDir)) throw new UserInputException(
            $"{outDir}: --out must be a folder, but a file has that name");
        if (SyntheticNsd.IsNonEmptyDirectory(outDir) && !parse.GetValue(force))
            throw new UserInputException(
                $"{outDir}: --out folder is not empty; choose another folder or pass --force");
        return new SynthOptions
        {
            OutDir = outDir,
            Subject = parse.GetValue(subject),
            Train = parse.GetValue(train),
            Test = parse.GetValue(test),
            ImageSize = parse.GetValue(size),
            Seed = parse.GetValue(seed),
            Categories = parse.GetValue(cats),
            Snr = parse.GetValue(snr),
            PrfColour = parse.GetValue(prfColour),
            FmriDType = parse.GetValue(dtype)!,
            Repetitions = parse.GetValue(reps),
            World = Enum.Parse<SynthWorld>(parse.GetValue(world)!, ignoreCase: true),
        };
    }

    /// <summary>The --world word of a world (hierarchical, linear).</summary>
    static string WorldName(SynthWorld w) => w.ToString().ToLowerInvariant();

    public override SynthResult Execute(SynthOptions request) => SyntheticNsd.Generate(request);

    public override object Report(SynthOptions request, SynthResult r) => new
    {
        world = WorldName(request.World),
        data = System.IO.Path.GetFullPath(r.DataRoot),
        subject = r.Subject,
        train_samples = r.Train,
        test_samples = r.Test,
        image_shape = new[] { r.ImageSize, r.ImageSize, 3 },
        voxels_detail = r.VoxelsDetail,
        voxels_semantic = r.VoxelsSemantic,
        voxels_low = r.VoxelsLow,
        ground_truth = System.IO.Path.GetFullPath(r.GroundTruthJson),
    };
}
