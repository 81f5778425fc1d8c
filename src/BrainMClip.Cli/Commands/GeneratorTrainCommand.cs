using System.CommandLine;
using BrainMClip.Generation.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip generator train`: the embedded pixel-space generator (docs/generation.md).</summary>
public sealed class GeneratorTrainCommand : StageCommand<PixelGeneratorOptions, PixelGeneratorResult>
{
    static readonly PixelGeneratorOptions D = Defaults.Of<PixelGeneratorOptions>();

    public override string[] Path => ["generator", "train"];
    public override string Description =>
        "Train the small pixel-space diffusion generator (the diffusers UNet class, 3 channels, no VAE) on stimulus " +
        "images conditioned on their CLIP-Semantic tokens; writes a generator folder for 'reconstruct'.";

    readonly Option<string> images = new Option<string>("--images")
    { Description = "Stimulus images, .npy (N,H,W,3) uint8 (e.g. nsd_train_stim_sub1.npy).", Required = true };
    readonly Option<string> features = new Option<string>("--features")
    {
        Description = "Features safetensors of the same images ('semantic' (N,T,P) tokens are the conditioning).",
        Required = true
    };
    readonly Option<string> output = new Option<string>("--out")
    { Description = "Generator folder to write (unet/, scheduler/, generator.json).", Required = true };
    readonly Option<int> steps = new Option<int>("--steps")
    {
        Description = "Optimisation steps (measured on one core at 32 px: about 0.5 s each at the defaults, 0.2 s " +
        "with --batch 8 --attention-resolution 8, the demo's 1000-step setting).",
        DefaultValueFactory = _ => D.Steps
    };
    readonly Option<int> size = new Option<int>("--size")
    { Description = "Image size the generator works at: 32 or 64.", DefaultValueFactory = _ => D.Size };
    readonly Option<long> seed = SharedOptions.Seed(D.Seed);
    readonly Option<double> lr = new Option<double>("--lr")
    {
        Description = "Peak AdamW learning rate (warm-up, cosine decay to 10%).",
        DefaultValueFactory = _ => D.LearningRate
    };
    readonly Option<int> batch = new Option<int>("--batch")
    { Description = "Batch size.", DefaultValueFactory = _ => D.BatchSize };
    readonly Option<string?> channels = new Option<string?>("--channels")
    {
        Description = "Block channels per level, comma-separated (default 32,64,64 at size 32; 32,64,64,64 at " +
        "64). Smaller trains faster."
    };
    readonly Option<int> attention = new Option<int>("--attention-resolution")
    {
        Description =
            "Largest feature-map side with attention blocks: 16 (at 32 px: 16x16 and 8x8 levels) or 8 (only 8x8 " +
            "and the mid block; faster).",
        DefaultValueFactory = _ => D.AttentionResolution,
    };

    readonly Option<string> prediction = new Option<string>("--prediction")
    {
        Description = "What the UNet predicts: epsilon (noise), v_prediction or sample (the clean image; with " +
            "--context-map the design the demo uses, docs/generation.md); recorded in scheduler/ so reconstruct " +
            "samples accordingly.",
        DefaultValueFactory = _ => D.Prediction,
    };
    readonly Option<bool> contextMap = new Option<bool>("--context-map")
    {
        Description = "Also add the patch tokens as a spatial map after conv_in (where each token's content is; " +
            "cross-attention alone has no positions).",
    };

    readonly Option<int> contextMapShuffle = new Option<int>("--context-map-shuffle")
    {
        Description = "With --context-map: sub-pixels per patch-token side (pixel shuffle; the demo uses 4: an 8x8 " +
            "token grid decodes to 32x32), so each token decodes its own patch; 0 = one value per token, resized " +
            "bilinearly.",
    };

    readonly Option<string> context = new Option<string>("--context")
    {
        Description = "What conditions the UNet: semantic (CLIP-Semantic tokens, as Versatile Diffusion) or " +
            "semantic+detail (each token's CLIP-Semantic and CLIP-Detail vectors concatenated: the generator fuses " +
            "the two streams; reconstruct then also reads PRED's 'detail'; the demo's choice, docs/generation.md).",
        DefaultValueFactory = _ => D.Context,
    };

    readonly Option<double> contextNoise = new Option<double>("--context-noise")
    {
        Description = "Probability that a training sample's context is replaced, per stream, by a noisy copy with " +
            "the same per-element mean and spread and a random correlation with the truth (conditioning " +
            "augmentation: the generator learns to render from imprecise brain predictions; docs/generation.md). " +
            "0 = off.",
    };

    readonly Option<int?> threads = SharedOptions.Threads();
    readonly Option<string?> threadsFrom = new Option<string?>("--threads-from")
    {
        Description = "STEP:N — from optimizer step STEP on, use N torch threads (e.g. 1500:2). The demo trains the " +
            "generator on one core beside the brain stages and widens it to both once they are done; tied to a " +
            "step, not the clock, so every attempt computes the same.",
    };
    readonly Option<int> checkpointEvery = new Option<int>("--checkpoint-every")
    {
        Description = "Steps between checkpoints of the training state (OUT/train-state/; OUT/metrics.jsonl gets a " +
            "line each time).",
        DefaultValueFactory = _ => PixelGeneratorOptions.DefaultCheckpointEvery,
    };
    readonly Option<bool> resume = new Option<bool>("--resume")
    {
        Description = "Continue an interrupted run in --out from its last checkpoint (same options; bit-identical " +
            "to an uninterrupted run at the same thread count).",
    };

    readonly Option<string> device = SharedOptions.Device();

    protected override Option[] Options =>
        [images, features, output, steps, size, seed, lr, batch, channels, attention, prediction, contextMap,
            contextMapShuffle, context, contextNoise, threads, threadsFrom, checkpointEvery, resume, device];

    protected override void ConfigureOptions()
    {
        size.AcceptOnlyFromAmong("32", "64");
        prediction.AcceptOnlyFromAmong(PixelGeneratorTrainer.Predictions);
        context.AcceptOnlyFromAmong(PixelGeneratorOptions.Contexts);
    }

    public override IReadOnlyDictionary<string, string> FieldFlags { get; } = new Dictionary<string, string>
    {
        [nameof(PixelGeneratorOptions.BatchSize)] = "--batch",
        [nameof(PixelGeneratorOptions.LearningRate)] = "--lr",
    };

    public override PixelGeneratorOptions Bind(ParseResult r, CancellationToken cancel)
    {
        SharedOptions.ApplyThreads(r.GetValue(threads));
        return BindOptions(r);
    }

    /// <summary>The options of a parsed command line, without applying --threads (process-wide).</summary>
    public PixelGeneratorOptions BindOptions(ParseResult r) => new()
    {
        ImagesPath = r.GetValue(images)!,
        FeaturesPath = r.GetValue(features)!,
        OutDir = r.GetValue(output)!,
        Steps = r.GetValue(steps),
        Size = r.GetValue(size),
        Seed = r.GetValue(seed),
        LearningRate = r.GetValue(lr),
        BatchSize = r.GetValue(batch),
        Channels = ParseChannels(r.GetValue(channels)),
        AttentionResolution = r.GetValue(attention),
        Prediction = r.GetValue(prediction)!,
        ContextMap = r.GetValue(contextMap),
        ContextMapShuffle = r.GetValue(contextMapShuffle),
        Context = r.GetValue(context)!,
        ContextNoise = r.GetValue(contextNoise),
        CheckpointEvery = r.GetValue(checkpointEvery),
        Resume = r.GetValue(resume),
        Device = SharedOptions.GetDevice(r, device),
        ThreadsFrom = r.GetValue(threadsFrom) is { } t ? ThreadsFromStep.Parse(t) : null,
    };

    public override PixelGeneratorResult Execute(PixelGeneratorOptions request) =>
        PixelGeneratorTrainer.Train(request);

    public override object Report(PixelGeneratorOptions request, PixelGeneratorResult result) => new
    {
        generator = System.IO.Path.GetFullPath(result.OutDir),
        steps = result.Steps,
        final_loss = Math.Round(result.FinalLoss, 6),
        seconds = Math.Round(result.Seconds, 1),
        parameters = result.Parameters,
    };

    static int[]? ParseChannels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out r[i])) throw new UserInputException(
                $"--channels {text}: expected comma-separated integers");
        return r;
    }
}
