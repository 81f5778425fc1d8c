using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.Simulation;
using BrainMClip.Simulation.TargetEncoder;

namespace BrainMClip.Cli.Commands;

/// <summary>
/// <c>brainmclip clip-train</c>: trains the CLIP-layout target encoder on scenes of the hierarchical world.
/// </summary>
public sealed class ClipTrainCommand : StageCommand<ClipTrainCommand.Request, ClipTrainResult>
{
    /// <summary>
    /// The training options, the torch thread count to set first (null: libtorch's choice) and the one-object
    /// curriculum scenes.
    /// </summary>
    public sealed record Request(ClipTrainOptions Options, int? Threads, WorldSceneOptions SingleScenes);

    static readonly ClipTrainOptions D = Defaults.Of<ClipTrainOptions>();
    static readonly WorldSceneOptions Curriculum = WorldSceneSource.CurriculumScenes;

    public override string[] Path => ["clip-train"];
    public override string Description =>
        "Train the CLIP-layout vision transformer (the Hugging Face folder clip-init writes and features reads) on " +
        "rendered scenes of the hierarchical world: caption-contrastive on the token mean and on every token, a " +
        "family-presence head, local colour/contrast and per-patch family heads on an early layer; fresh scenes " +
        "every epoch, large one-object scenes first, patch embedding started as PCA whitening. Writes " +
        "training.json and layers.json.";

    readonly Option<string> output = new Option<string>("--out")
    {
        Description = "Folder to create (HF CLIP layout + training.json, layers.json, train-state/).",
        Required = true,
    };
    readonly Option<string> preset = new Option<string>("--preset")
    {
        Description = "tiny: 64 px, patch 8 (65 tokens), width 128, 6 layers, projection 64.",
        DefaultValueFactory = _ => D.Preset,
    };
    readonly Option<int> images = new Option<int>("--images")
    {
        Description = "Scenes per epoch, rendered fresh every epoch (one-object in the curriculum epochs, else " +
            "1-3 objects). 2500 with --epochs 8 is a quick, weaker run (624 steps, docs/simulation.md).",
        DefaultValueFactory = _ => D.Images,
    };
    readonly Option<int> epochs = new Option<int>("--epochs")
    {
        Description = "Epochs (the first --curriculum-epochs on one-object scenes). The defaults (4000 x 40 = 5,000 " +
            "steps, half of each batch at low resolution) are the run that learns the world's categories and " +
            "recognises 32-px images; with --seed 3 --threads 1 they remake the shipped encoder " +
            "assets/encoders/world-tiny.",
        DefaultValueFactory = _ => D.Epochs,
    };
    readonly Option<int> seed = new Option<int>("--seed")
    {
        Description = "Seed of the initial weights, the batch order and the world stream (disjoint from synth's).",
        DefaultValueFactory = _ => D.Seed,
    };
    readonly Option<int> batch = new Option<int>("--batch")
    {
        Description = "Batch size (the contrastive loss compares the images of a batch).",
        DefaultValueFactory = _ => D.BatchSize,
    };
    readonly Option<double> lr = new Option<double>("--lr")
    {
        Description = "Peak AdamW learning rate (linear warm-up over 10 % of the steps, cosine decay to 5 %).",
        DefaultValueFactory = _ => D.MaxLr,
    };
    readonly Option<int> curriculum = new Option<int>("--curriculum-epochs")
    {
        Description = "Epochs on one-object scenes before the mixed ones.",
        DefaultValueFactory = _ => D.CurriculumEpochs,
    };
    readonly Option<int?> threads = new Option<int?>("--threads")
    { Description = "Torch CPU threads (default: libtorch's choice)." };
    readonly Option<bool> resume = new Option<bool>("--resume")
    {
        Description = "Continue an interrupted run in --out (bit-identical to an uninterrupted run at the same " +
            "thread count).",
    };
    readonly Option<string?> weights = new Option<string?>("--loss-weights")
    {
        Description =
            "Weights pooled,tokens,presence,local,parts of the objective's terms (default 1,1,1,1,1): caption " +
            "InfoNCE on the token mean, on every token; family presence; tap-layer colour/contrast; tap-layer " +
            "per-patch family coverage.",
    };
    readonly Option<bool> localInit = new Option<bool>("--local-init")
    {
        Description =
            "Start from a locality-biased attention init (2D sine-cosine positions, q/k = I + clip-init's " +
            "noise) instead of clip-init's weights exactly.",
    };
    readonly Option<int?> tap = new Option<int?>("--tap-layer")
    {
        Description = "Hidden state whose patch tokens feed the local colour/contrast and per-patch family heads " +
            "(default: a third of the tower, 2 of 6).",
    };
    readonly Option<int?> layers = new Option<int?>("--layers")
    { Description = "Transformer blocks instead of the preset's." };
    readonly Option<double> warmup = new Option<double>("--warmup")
    {
        Description = "Fraction of the steps with a linear LR warm-up.",
        DefaultValueFactory = _ => D.WarmupFraction,
    };
    readonly Option<bool> noWhiten = new Option<bool>("--no-whiten-init")
    {
        Description = "Keep clip-init's random patch embedding instead of starting it as PCA whitening of " +
            "training patches.",
    };
    readonly Option<string> curScale = new Option<string>("--curriculum-scale")
    {
        Description = "Object scale range (image fractions) of the one-object curriculum scenes; large objects " +
            "teach the families fastest (synth's own scenes: 0.3-0.6 alone, 0.25-0.45 with others).",
        DefaultValueFactory = _ => Range(Curriculum.SingleScaleMin, Curriculum.SingleScaleMax),
    };
    readonly Option<double> lowres = new Option<double>("--lowres")
    {
        Description = "Fraction of each batch seen at a low resolution (shrunk to a random side, 8-bit, enlarged " +
            "back), so the embedding recognises low-resolution renderings such as the demo generator's 32-px " +
            "images (training.json's probe reports lowres_two_way at 32 and 16 px). 0 turns it off.",
        DefaultValueFactory = _ => D.LowResFraction,
    };
    readonly Option<string> lowresSides = new Option<string>("--lowres-sides")
    {
        Description = "Range of the low-resolution side in pixels, min-max (one side per batch).",
        DefaultValueFactory = _ => Range(D.LowResSides.Min, D.LowResSides.Max),
    };
    readonly Option<bool> noLayers = new Option<bool>("--no-layer-probe")
    {
        Description = "Skip the per-layer read-outs (layers.json lists none).",
    };

    protected override Option[] Options =>
        [output, preset, images, epochs, seed, batch, lr, curriculum, threads, resume, weights, localInit, noLayers,
         tap, layers, warmup, noWhiten, curScale, lowres, lowresSides];

    protected override void ConfigureOptions() => preset.AcceptOnlyFromAmong(ClipTrainer.PresetNames);

    public override IReadOnlyDictionary<string, string> FieldFlags { get; } = new Dictionary<string, string>
    {
        [nameof(ClipTrainOptions.BatchSize)] = "--batch",
        [nameof(ClipTrainOptions.MaxLr)] = "--lr",
        [nameof(ClipTrainOptions.WarmupFraction)] = "--warmup",
        [nameof(ClipTrainOptions.LowResFraction)] = "--lowres",
        [nameof(ClipTrainOptions.LowResSides)] = "--lowres-sides",
    };

    public override Request Bind(ParseResult r, CancellationToken cancel)
    {
        if (r.GetValue(threads) is < 1 and var t) throw new UserInputException($"--threads {t}: expected at least 1");
        return new Request(new ClipTrainOptions
        {
            OutDir = r.GetValue(output)!,
            Preset = r.GetValue(preset)!,
            Images = r.GetValue(images),
            Epochs = r.GetValue(epochs),
            Seed = r.GetValue(seed),
            BatchSize = r.GetValue(batch),
            MaxLr = r.GetValue(lr),
            CurriculumEpochs = r.GetValue(curriculum),
            Weights = ParseWeights(r.GetValue(weights)),
            Resume = r.GetValue(resume),
            LayerProbe = !r.GetValue(noLayers),
            LocalInit = r.GetValue(localInit),
            TapLayer = r.GetValue(tap),
            WarmupFraction = r.GetValue(warmup),
            WhitenInit = !r.GetValue(noWhiten),
            LowResFraction = r.GetValue(lowres),
            LowResSides = ParseSides(r.GetValue(lowresSides)!),
            Config = r.GetValue(layers) is { } n
                ? ClipTrainer.PresetConfig(r.GetValue(preset)!) with { NumHiddenLayers = n }
                : null,
        }, r.GetValue(threads), SingleScenes(r.GetValue(curScale)!));
    }

    public override ClipTrainResult Execute(Request r)
    {
        if (r.Threads is { } t) TorchSharp.torch.set_num_threads(t);
        return ClipTrainer.Train(r.Options, new WorldSceneSource(r.Options.Seed, r.SingleScenes), Console.Error);
    }

    public override object Report(Request request, ClipTrainResult result)
    {
        var figures = new JsonObject
        {
            ["clip"] = System.IO.Path.GetFullPath(result.OutDir),
            ["completed"] = result.Completed,
            ["epochs"] = result.EpochsDone,
            ["seconds"] = Math.Round(result.Seconds, 1),
            ["probe_final"] = result.Summary["probe_final"]?.DeepClone(),
        };
        if (figures["probe_final"] is JsonObject pf) pf.Remove("layers"); // per-layer rows are in layers.json
        return figures;
    }

    /// <summary>"a-b", as <see cref="ParseRange{T}"/> reads it.</summary>
    static string Range<T>(T a, T b) where T : IFormattable =>
        string.Create(CultureInfo.InvariantCulture, $"{a}-{b}");

    static WorldSceneOptions SingleScenes(string range)
    {
        var (a, b) = ParseRange<double>(range, "--curriculum-scale", "min-max, e.g. 0.5-0.85");
        return Curriculum with { SingleScaleMin = a, SingleScaleMax = b };
    }

    static (int, int) ParseSides(string range) =>
        ParseRange<int>(range, "--lowres-sides", "min-max in pixels, e.g. 16-40");

    /// <summary>"a-b" → (a, b); anything else is a usage error naming <paramref name="option"/>.</summary>
    static (T, T) ParseRange<T>(string range, string option, string expected) where T : IParsable<T>
    {
        var v = range.Split('-');
        if (v.Length != 2 || !T.TryParse(v[0], CultureInfo.InvariantCulture, out var a)
            || !T.TryParse(v[1], CultureInfo.InvariantCulture, out var b))
            throw new UserInputException($"{option} {range}: expected {expected}");
        return (a, b);
    }

    static ClipLossWeights ParseWeights(string? text)
    {
        if (text is null) return new ClipLossWeights();
        var v = text.Split(',', StringSplitOptions.TrimEntries).Select(p =>
            double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 0
                && double.IsFinite(x)
                ? x : throw new UserInputException($"--loss-weights {text}: '{p}' is not a non-negative number"))
                    .ToArray();
        if (v.Length != 5)
            throw new UserInputException(
                $"--loss-weights {text}: expected 5 numbers (pooled,tokens,presence,local,parts)");
        return new ClipLossWeights { Pooled = v[0], Tokens = v[1], Presence = v[2], Local = v[3], Parts = v[4] };
    }
}
