using System.CommandLine;
using BrainMClip.Generation.Pipelines;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip reconstruct`: brain predictions → images with a diffusion generator
/// (docs/generation.md).</summary>
public sealed class ReconstructCommand
    : StageCommand<ReconstructCommand.Request, (ReconstructResult Recon, ReconstructResult? Upper)>
{
    /// <summary>The reconstruction, and the true features to render the upper bound from (or null).</summary>
    public sealed record Request(ReconstructOptions Options, string? TruthFeatures);

    static readonly ReconstructOptions D = Defaults.Of<ReconstructOptions>();

    public override string[] Path => ["reconstruct"];
    public override string Description =>
        "Reconstruct test images from brain predictions (PRED.safetensors from 'predict') with a diffusion " +
        "generator; writes rec_000.png... named by test index and reconstruct.json. With --truth-features also the " +
        "upper bound from the true features (OUT/true_features/); --shard i/n splits the work over array jobs.";

    readonly Option<string> pred = new Option<string>("--pred")
    {
        Description = "PRED.safetensors written by 'predict' (semantic, detail_projected, fused; test order).",
        Required = true
    };
    readonly Option<string> generator = new Option<string>("--generator")
    {
        Description = "Generator folder: Versatile Diffusion style (image_unet/ or unet/, vae/, scheduler/) or " +
        "a pixel-space generator from 'generator train'. An optional clip/ sub-folder enables best-of-N.",
        Required = true
    };
    readonly Option<string> output = new Option<string>("--out")
    { Description = "Output folder for rec_NNN.png and reconstruct.json.", Required = true };
    readonly Option<int> steps = new Option<int>("--steps")
    { Description = "Sampling steps.", DefaultValueFactory = _ => D.Steps };
    readonly Option<double> guidance = new Option<double>("--guidance")
    {
        Description = "Classifier-free guidance scale (unconditional context = zeros); <= 1 disables guidance.",
        DefaultValueFactory = _ => D.Guidance
    };
    readonly Option<int> candidates = new Option<int>("--candidates")
    {
        Description = "Images sampled per test sample; the one whose CLIP tokens are closest to the " +
        "brain-predicted tokens is kept (needs GEN/clip/).",
        DefaultValueFactory = _ => D.Candidates
    };
    readonly Option<double> fusion = new Option<double>("--fusion")
    {
        Description = "Fusion weight lambda: conditioning = renorm((1-lambda)*semantic + lambda*P(detail)).",
        DefaultValueFactory = _ => D.Fusion
    };
    readonly Option<long> seed = SharedOptions.Seed(D.Seed);
    readonly Option<string> scheduler = new Option<string>("--scheduler")
    { Description = "ddim (eta 0) or dpm (DPM-Solver++ 2M).", DefaultValueFactory = _ => D.Scheduler };
    readonly Option<string> device = SharedOptions.Device();
    readonly Option<int?> limit = new Option<int?>("--limit")
    { Description = "Reconstruct only the first N test samples." };
    readonly Option<bool> resume = new Option<bool>("--resume")
    { Description = "Skip images whose PNG already exists in --out." };
    readonly Option<string> dtype = new Option<string>("--dtype")
    {
        Description = "Model precision: float32, bfloat16 or float16 (halves memory; slower on CPUs without " +
        "native support).",
        DefaultValueFactory = _ => D.DType
    };
    readonly Option<int?> slice = new Option<int?>("--attention-slice")
    {
        Description = "Compute attention in slices of this many (batch x head) rows to bound memory (e.g. 1 " +
        "for 512x512 on small machines)."
    };
    readonly Option<string?> restandardize = new Option<string?>("--restandardize")
    {
        Description = "FEATURES.safetensors of the training images: before fusion, standardise each predicted " +
        "token channel over the test samples and give it the training features' mean and std (Brain-Diffuser's " +
        "step before Versatile Diffusion; un-shrinks ridge-like predictions)."
    };
    readonly Option<string?> truthFeatures = new Option<string?>("--truth-features")
    {
        Description = "FEATURES.safetensors of the TEST images (same order as --pred): also render every sample " +
        "from its true CLIP-Semantic tokens, with the same generator, seeds and sampler, into OUT/true_features/ " +
        "(the upper bound: what perfect decoding would give)."
    };
    readonly Option<string> shard = new Option<string>("--shard")
    {
        Description = "i/n: render only the i-th (0-based) of n contiguous blocks of the test samples, e.g. one " +
        "SLURM array task each (scripts/slurm/); all tasks may share --out (one manifest per shard).",
        DefaultValueFactory = _ => D.Shard.ToString()
    };

    readonly Option<int> batch = new Option<int>("--batch")
    {
        Description = "Samples (test image x candidate) denoised together per UNet call (twice the rows with " +
        "guidance); only the time per image changes. On every CPU the images are --batch 1's within one grey level " +
        "(float32 rounding order); bit-identical where the CPU's GEMM blocking does not depend on the batch " +
        "(measured for the demo's generator on Intel; not on AMD Zen 4). Same --batch, --threads and machine: " +
        "bit-identical (docs/reliability.md).",
        DefaultValueFactory = _ => D.Batch
    };

    readonly Option<int?> threads = SharedOptions.Threads();

    protected override Option[] Options =>
        [pred, generator, output, steps, guidance, candidates, fusion, seed, scheduler, device, limit, resume,
            dtype, slice, restandardize, truthFeatures, shard, batch, threads];

    protected override void ConfigureOptions() => scheduler.AcceptOnlyFromAmong("ddim", "dpm");

    public override Request Bind(ParseResult r, CancellationToken cancel)
    {
        SharedOptions.GetDevice(r, device); // a CUDA device on a CPU build is refused before any work
        SharedOptions.ApplyThreads(r.GetValue(threads));
        var options = new ReconstructOptions
        {
            PredPath = r.GetValue(pred)!,
            GeneratorPath = r.GetValue(generator)!,
            OutDir = r.GetValue(output)!,
            Steps = r.GetValue(steps),
            Guidance = r.GetValue(guidance),
            Candidates = r.GetValue(candidates),
            Fusion = r.GetValue(fusion),
            Seed = r.GetValue(seed),
            Scheduler = r.GetValue(scheduler)!,
            Device = r.GetValue(device)!,
            Limit = r.GetValue(limit),
            Resume = r.GetValue(resume),
            DType = r.GetValue(dtype)!,
            AttentionSlice = r.GetValue(slice),
            RestandardizeWith = r.GetValue(restandardize),
            Shard = Shard.Parse(r.GetValue(shard)!),
            Batch = r.GetValue(batch),
        };
        string? truthPath = r.GetValue(truthFeatures);
        if (truthPath != null)
            UserInputException.RequireFile(truthPath, "--truth-features (features of the test images)");
        return new Request(options, truthPath);
    }

    public override (ReconstructResult Recon, ReconstructResult? Upper) Execute(Request r) =>
        (Reconstruction.Run(r.Options, Scorers(r.Options)),
            r.TruthFeatures == null ? null : UpperBound.Run(r.Options, r.TruthFeatures, Scorers(r.Options)));

    /// <summary>Best-of-N scorers on the reconstruction's device.</summary>
    static Func<string, ICandidateScorer> Scorers(ReconstructOptions o) =>
        folder => ClipScorers.Create(folder, TorchSetup.ParseDevice(o.Device));

    public override object Report(Request request, (ReconstructResult Recon, ReconstructResult? Upper) r)
    {
        static object Summary(ReconstructResult x) => new
        {
            images = x.Images,
            written = x.Written,
            skipped = x.Skipped,
            seconds_per_image = Math.Round(x.SecondsPerImage, 3),
            manifest = x.Manifest,
        };
        return new
        {
            images = r.Recon.Images,
            written = r.Recon.Written,
            skipped = r.Recon.Skipped,
            seconds_per_image = Math.Round(r.Recon.SecondsPerImage, 3),
            manifest = r.Recon.Manifest,
            shard = request.Options.Shard.ToString(),
            from_true_features = r.Upper == null ? null : Summary(r.Upper),
        };
    }
}
