using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>Settings of <c>brainmclip clip-train</c>.</summary>
public sealed record ClipTrainOptions
{
    public required string OutDir { get; init; }
    /// <summary>Architecture (see <see cref="ClipTrainer.PresetConfig"/>).</summary>
    public string Preset { get; init; } = "tiny";
    /// <summary>An explicit architecture instead of the preset (tests use very small ones).</summary>
    public ClipVisionConfig? Config { get; init; }
    /// <summary>
    /// Scenes per epoch, fresh every epoch. Defaults 4000 × 40 (5,000 steps): the run whose final layer carries the
    /// world's categories and survives low resolution (docs/simulation.md); 2500 × 8 (624 steps) is the quick, weaker
    /// setting.
    /// </summary>
    public int Images { get; init; } = 4000;
    public int Epochs { get; init; } = 40;
    public int Seed { get; init; }
    public int BatchSize { get; init; } = 32;
    public double MaxLr { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.05;
    /// <summary>Fraction of all steps with a linear LR warm-up (then cosine decay to 5 %).</summary>
    public double WarmupFraction { get; init; } = 0.1;
    /// <summary>The first epochs train on one-object scenes only.</summary>
    public int CurriculumEpochs { get; init; } = 2;
    /// <summary>
    /// Held-out probe scenes: the last <see cref="RetrievalWay"/> test ridge maps fitted on the rest.
    /// </summary>
    public int ProbeImages { get; init; } = 1300;
    public int RetrievalWay { get; init; } = 300;
    public ClipLossWeights Weights { get; init; } = new();
    /// <summary>
    /// Hidden state whose patch tokens feed the local and per-patch family heads; null = a third of the tower (2 of 6):
    /// dense per-patch supervision that early trains the patch embedding fast and leaves local detail there.
    /// </summary>
    public int? TapLayer { get; init; }
    public bool Resume { get; init; }
    /// <summary>Stop after this many completed epochs (as if interrupted); the run can be resumed later.</summary>
    public int? StopAfterEpochs { get; init; }
    /// <summary>
    /// Start from local attention (2D sine-cosine position embeddings, q/k projections = identity + the random
    /// init), so early layers attend to neighbouring patches from the first step instead of uniformly (mimetic
    /// initialisation, Trockman &amp; Kolter 2023); only the initial values differ, the architecture is CLIP's.
    /// </summary>
    public bool LocalInit { get; init; }
    /// <summary>
    /// Start the patch embedding as PCA whitening of the training images' patches (top components, unit variance
    /// each), so a token's shape content is not drowned by its mean colour after pre_layrnorm.
    /// </summary>
    public bool WhitenInit { get; init; } = true;
    /// <summary>Run the per-layer read-outs of the probe (layers.json).</summary>
    public bool LayerProbe { get; init; } = true;
    /// <summary>
    /// Fraction of each batch seen at a low resolution (<see cref="LowResolution"/>; one side per batch drawn from
    /// <see cref="LowResSides"/>): the metric CLIP must recognise the demo generator's 32-px renderings.
    /// </summary>
    public double LowResFraction { get; init; } = 0.5;
    public (int Min, int Max) LowResSides { get; init; } = (16, 40);
}

public sealed record ClipTrainResult(string OutDir, bool Completed, int EpochsDone, double Seconds, JsonObject Summary);

/// <summary>
/// Trains the CLIP-layout vision transformer on rendered scenes so that its CLIP-Semantic tokens (post_layernorm and
/// visual_projection of every final token) carry image-level meaning in every token, while an early layer keeps local
/// detail. Objective: caption-contrastive InfoNCE between a caption encoder of the scene's symbolic description and
/// (a) the mean projected token, (b) every projected token; a family-presence head on the mean projected token and on
/// every token; per-patch colour/contrast regression and per-patch family coverage on the tap layer's patch tokens.
/// What made it learn categories in minutes (measured in docs/simulation.md): the dense per-patch family head on an
/// early layer, large one-object scenes first, the patch embedding started as PCA whitening, fresh scenes every epoch.
/// Linear warm-up then cosine LR. Deterministic for a seed (at a fixed thread count): scenes are rendered from their
/// indices, epoch orders are seeded per epoch, and the checkpoint after every epoch (weights, AdamW state, history)
/// makes a resumed run bit-identical to an uninterrupted one. The output folder is the HF layout <c>clip-init</c>
/// writes, plus training.json / layers.json and the resumable state in train-state/.
/// </summary>
public static class ClipTrainer
{
    /// <summary>First scene indices of the probe set and of the one-object curriculum (training starts at 0).</summary>
    public const long ProbeFirstIndex = 1_000_000_000, CurriculumFirstIndex = 2_000_000_000;
    /// <summary>Scenes whose patches set the whitened patch embedding (<see cref="ClipTrainOptions.WhitenInit"/>).
    /// </summary>
    public const long WhitenFirstIndex = 3_000_000_000;
    const int WhitenImages = 256;

    public static readonly string[] PresetNames = ["tiny"];

    /// <summary>
    /// tiny: the shapes of <c>clip-init --preset tiny</c> that downstream code sees (64 px, patch 8 → 65 tokens, width
    /// 128, projection 64) with 6 instead of 12 blocks, so training fits in minutes on 2 cores.
    /// </summary>
    public static ClipVisionConfig PresetConfig(string name) => name switch
    {
        "tiny" => ClipVisionConfig.Preset("tiny") with { NumHiddenLayers = 6 },
        _ => throw UserInputException.Invalid("Preset",
            $"unknown preset '{name}' (expected one of {string.Join(", ", PresetNames)})"),
    };

    public static int DefaultTapLayer(int layers) => Math.Max(1, layers / 3);

    public static string StatePath(string outDir) => Path.Combine(outDir, "train-state", "last.ckpt");

    public static ClipTrainResult Train(ClipTrainOptions o, IClipSceneSource source, TextWriter? log = null)
    {
        var clock = Stopwatch.StartNew();
        Validate(o);
        var cfg = (o.Config ?? PresetConfig(o.Preset)).Validate();
        int tap = o.TapLayer ?? DefaultTapLayer(cfg.NumHiddenLayers);
        if (tap < 1 || tap > cfg.NumHiddenLayers)
            throw new UserInputException($"tap layer {tap}: expected 1..{cfg.NumHiddenLayers}");
        string fingerprint = Fingerprint(o, cfg, tap, source);
        var resumeFrom = OpenState(o, fingerprint);

        using var outer = NewDisposeScope();
        using var net = new ClipTrainingNet(cfg, source.CaptionDim, source.Families.Count, tap);
        // The heads' initial values: PyTorch's defaults from the run's generator (exactly what manual_seed(seed)
        // before constructing the network gave; the tower is then replaced by clip-init's weights).
        using (var initGen = new Generator((ulong)o.Seed)) ModuleInit.Default(net, initGen);
        Initialise(net, cfg, o, source);
        var parameters = net.parameters().ToList();

        log?.WriteLine($"clip-train: {o.Images} fresh scenes per epoch ({o.CurriculumEpochs} one-object epochs " +
                       $"first), {o.ProbeImages} probe scenes ({source.Description})");
        using var probe = ClipSceneSet.Render(source, ProbeFirstIndex, o.ProbeImages, cfg.ImageSize, cfg.PatchSize,
            singleObject: false);
        log?.WriteLine($"clip-train: probe scenes ready ({clock.Elapsed.TotalSeconds:0.0}s)");

        long totalSteps = o.Images / o.BatchSize * (long)o.Epochs;
        using var generators = new RunGenerators();
        using var task = new ClipTrainingTask(net, o, cfg, source, generators, log)
        { Fingerprint = fingerprint, Loop = null! };
        using var loop = new TrainingLoop(task, o.Epochs, new OptimizationSettings
        {
            Groups = [(parameters, o.WeightDecay)],
            MaxLr = o.MaxLr,
            Schedule = Schedule(o, totalSteps),
            ClipGroups = [parameters],
            MaxGradNorm = 1.0,
        }, new LoopFiles
        {
            LastCheckpoint = StatePath(o.OutDir),
            PreviousCheckpoint = Path.Combine(o.OutDir, "train-state", "prev.ckpt"),
            MetricsPath = Path.Combine(o.OutDir, "metrics.jsonl"),
        }, generators)
        { ProgressLabel = "clip-train", Log = log };
        task.Loop = loop;
        if (resumeFrom is not null)
        {
            using (resumeFrom) loop.Restore(resumeFrom);
            log?.WriteLine($"clip-train: resuming {o.OutDir} after epoch {loop.Epoch} (step {loop.Step})");
        }
        else task.InitProbe = Probe(net, probe, o);
        loop.StartSchedule();
        task.StopAt = Math.Min(o.Epochs, o.StopAfterEpochs is { } s ? Math.Max(s, loop.Epoch + 1) : o.Epochs);
        if (!loop.Run(o.StopAfterEpochs))
            return new ClipTrainResult(o.OutDir, false, loop.Epoch, clock.Elapsed.TotalSeconds, new JsonObject());
        var final = Probe(net, probe, o);
        long trained = parameters.Sum(p => p.numel());
        var summary = Summary(o, cfg, tap, source, loop.Metrics, task.InitProbe, final, clock.Elapsed.TotalSeconds,
            trained);
        WriteOutput(o.OutDir, net, cfg, summary);
        return new ClipTrainResult(o.OutDir, true, loop.Epoch, clock.Elapsed.TotalSeconds, summary);
    }

    /// <summary>
    /// First scene index of an epoch: every epoch renders fresh scenes (a pure function of the index, ~1 ms each),
    /// one-object epochs from <see cref="CurriculumFirstIndex"/>, mixed ones from 0.
    /// </summary>
    public static long EpochFirstIndex(int epoch, ClipTrainOptions o) =>
        (epoch < o.CurriculumEpochs ? CurriculumFirstIndex : 0) + (long)epoch * o.Images;

    static JsonObject Probe(ClipTrainingNet net, ClipSceneSet probe, ClipTrainOptions o) =>
        ClipTrainingProbe.Evaluate(net, probe, o.BatchSize, o.RetrievalWay, o.Weights, o.LayerProbe);

    static void Validate(ClipTrainOptions o)
    {
        static void Require(bool ok, string field, string message) => UserInputException.Require(ok, field, message);
        Require(o.BatchSize >= 2, nameof(o.BatchSize),
            $"batch size must be at least 2 (got {o.BatchSize}; the contrastive loss compares images)");
        Require(o.Images >= o.BatchSize, nameof(o.Images),
            $"scenes per epoch must be at least one batch ({o.BatchSize}) (got {o.Images})");
        Require(o.Epochs >= 1, nameof(o.Epochs), $"epochs must be at least 1 (got {o.Epochs})");
        Require((long)o.Images * o.Epochs < ProbeFirstIndex, nameof(o.Images),
            $"{o.Images} scenes x {o.Epochs} epochs: expected fewer than {ProbeFirstIndex} scenes in all");
        Require(o.CurriculumEpochs >= 0, nameof(o.CurriculumEpochs),
            $"curriculum epochs must be 0 or more (got {o.CurriculumEpochs})");
        Require(o.MaxLr > 0 && double.IsFinite(o.MaxLr), nameof(o.MaxLr),
            $"learning rate must be a positive number (got {o.MaxLr})");
        Require(o.WarmupFraction is >= 0 and < 1, nameof(o.WarmupFraction),
            $"warm-up fraction must be in [0, 1) (got {o.WarmupFraction})");
        Require(o.LowResFraction is >= 0 and <= 1, nameof(o.LowResFraction),
            $"low-resolution fraction must be in [0, 1] (got {o.LowResFraction})");
        Require(o.LowResSides.Min >= 2 && o.LowResSides.Min <= o.LowResSides.Max, nameof(o.LowResSides),
            $"low-resolution sides must be min-max with 2 <= min <= max (got {o.LowResSides.Min}-" +
            $"{o.LowResSides.Max})");
        Require(o.RetrievalWay >= 2 && o.ProbeImages >= o.RetrievalWay + 10 && o.ProbeImages >= o.BatchSize,
            nameof(o.ProbeImages),
            $"probe of {o.ProbeImages} scenes: expected at least {o.RetrievalWay} + 10 and one batch");
        AtomicFile.RequireWritable(Path.Combine(o.OutDir, "training.json"), "output folder");
    }

    /// <summary>clip-init's weights (or the local init), then the whitened patch embedding when asked for.</summary>
    static void Initialise(ClipTrainingNet net, ClipVisionConfig cfg, ClipTrainOptions o, IClipSceneSource source)
    {
        LoadInitialWeights(net, cfg, o.Seed, o.LocalInit);
        if (!o.WhitenInit) return;
        using var sample = ClipSceneSet.Render(source, WhitenFirstIndex, WhitenImages, cfg.ImageSize, cfg.PatchSize,
            singleObject: false);
        using var noGrad = no_grad();
        net.Clip.state_dict()["vision_model.embeddings.patch_embedding.weight"]
            .copy_(WhiteningPatchEmbedding(sample, cfg));
    }

    /// <summary>
    /// The weights <c>clip-init --seed S</c> would write; with <paramref name="local"/> the position embeddings become
    /// 2D sine-cosine codes (unit variance, neighbours similar) and every q/k projection gets + I, so attention logits
    /// start as the similarity of the tokens' positions.
    /// </summary>
    static void LoadInitialWeights(ClipTrainingNet net, ClipVisionConfig cfg, int seed, bool local)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var init = ClipCheckpointFactory.RandomWeights(cfg, seed);
        if (local)
        {
            init["vision_model.embeddings.position_embedding.weight"] = SinCosPositions(cfg);
            var eye = torch.eye(cfg.HiddenSize);
            for (int i = 0; i < cfg.NumHiddenLayers; i++)
                foreach (var n in new[] { "q_proj", "k_proj" })
                {
                    string key = $"vision_model.encoder.layers.{i}.self_attn.{n}.weight";
                    init[key] = init[key] + eye;
                }
        }
        foreach (var (k, p) in net.Clip.state_dict()) p.copy_(init[k]);
    }

    /// <summary>
    /// Patch-embedding weight (W, C, P, P) = D^-1/2 Uᵀ over the top principal components of the CLIP-normalised
    /// patches of <paramref name="sample"/>, eigenvalues regularised by 1 % of their mean so noise directions stay
    /// small. Rows beyond the patch dimension (none for the presets) are zero.
    /// </summary>
    public static Tensor WhiteningPatchEmbedding(ClipSceneSet sample, ClipVisionConfig cfg)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var px = ClipTrainingProbe.Pixels(sample.Images, ClipImageProcessor.ForSize(cfg.ImageSize))
            .to_type(ScalarType.Float64);
        long b = px.shape[0], c = px.shape[1], g = cfg.GridSize, p = cfg.PatchSize, d = c * p * p;
        var x = px.view(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b * g * g, d);
        x = x - x.mean([0], keepdim: true);
        var (ev, u) = linalg.eigh(x.t().mm(x) / x.shape[0]);              // ascending
        int k = (int)Math.Min(cfg.HiddenSize, d);
        var top = u.narrow(1, d - k, k).flip(1);                            // (d, k), largest first
        var lam = ev.narrow(0, d - k, k).flip(0) + 0.01 * ev.mean();
        var w = zeros(cfg.HiddenSize, d, dtype: ScalarType.Float64);
        w.narrow(0, 0, k).copy_((top / lam.sqrt().unsqueeze(0)).t());
        return w.view(cfg.HiddenSize, c, p, p).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>2D sine-cosine position codes (half the channels per axis), CLS row zero, unit variance.</summary>
    public static Tensor SinCosPositions(ClipVisionConfig cfg)
    {
        int g = cfg.GridSize, w = cfg.HiddenSize, quarter = w / 4;
        var pe = new float[cfg.NumTokens * w];
        for (int y = 0; y < g; y++)
            for (int x = 0; x < g; x++)
            {
                int row = 1 + y * g + x;
                for (int k = 0; k < quarter; k++)
                {
                    // Wavelengths from 2 patches to 4 grids: fine codes separate neighbours, coarse ones keep
                    // them similar.
                    double omega = Math.PI / Math.Pow(4.0 * g, (double)k / Math.Max(1, quarter - 1));
                    pe[row * w + k] = (float)(Math.Sin(omega * x) * Math.Sqrt(2));
                    pe[row * w + quarter + k] = (float)(Math.Cos(omega * x) * Math.Sqrt(2));
                    pe[row * w + 2 * quarter + k] = (float)(Math.Sin(omega * y) * Math.Sqrt(2));
                    pe[row * w + 3 * quarter + k] = (float)(Math.Cos(omega * y) * Math.Sqrt(2));
                }
            }
        return tensor(pe, [cfg.NumTokens, w]);
    }

    /// <summary>Linear warm-up over <see cref="ClipTrainOptions.WarmupFraction"/> of the steps, then cosine decay
    /// to 5 %.</summary>
    public static WarmupCosineSchedule Schedule(ClipTrainOptions o, long totalSteps) =>
        new(o.MaxLr, (long)Math.Round(totalSteps * o.WarmupFraction), totalSteps, floor: 0.05);

    /// <summary>
    /// Every setting that shapes the run, in one place: the resume fingerprint and the head of training.json.
    /// </summary>
    static JsonObject Settings(ClipTrainOptions o, ClipVisionConfig cfg, int tap, IClipSceneSource source) => new()
    {
        ["preset"] = o.Preset,
        ["config"] = JsonNode.Parse(cfg.ToJson()),
        ["source"] = source.Description,
        ["families"] = new JsonArray(source.Families.Select(f => (JsonNode)f).ToArray()),
        ["caption_dim"] = source.CaptionDim,
        ["images"] = o.Images,
        ["epochs"] = o.Epochs,
        ["seed"] = o.Seed,
        ["batch"] = o.BatchSize,
        ["max_lr"] = o.MaxLr,
        ["weight_decay"] = o.WeightDecay,
        ["warmup_fraction"] = o.WarmupFraction,
        ["curriculum_epochs"] = o.CurriculumEpochs,
        ["tap_layer"] = tap,
        ["local_init"] = o.LocalInit,
        ["whiten_init"] = o.WhitenInit,
        ["probe_images"] = o.ProbeImages,
        ["retrieval_way"] = o.RetrievalWay,
        ["loss_weights"] = JsonSerializer.SerializeToNode(o.Weights),
        ["lowres_fraction"] = o.LowResFraction,
        ["lowres_sides"] = new JsonArray(o.LowResSides.Min, o.LowResSides.Max),
    };

    static string Fingerprint(ClipTrainOptions o, ClipVisionConfig cfg, int tap, IClipSceneSource source) =>
        Settings(o, cfg, tap, source).ToJsonString();

    /// <summary>The checkpoint to resume from, or null for a fresh run; refuses to overwrite or mix runs.</summary>
    static Checkpoint? OpenState(ClipTrainOptions o, string fingerprint)
    {
        string path = StatePath(o.OutDir), previous = Path.Combine(o.OutDir, "train-state", "prev.ckpt");
        bool exists = File.Exists(path) || File.Exists(previous);
        if (exists && !o.Resume)
            throw new UserInputException(
                $"{o.OutDir}: already holds a clip-train run; resume it or choose another output folder");
        if (!exists) return null;
        var ck = Checkpoint.LoadLatestGood(path, previous, o.OutDir, null);
        if (ck.Metadata.GetValueOrDefault("options") != fingerprint)
        {
            ck.Dispose();
            throw new UserInputException($"{path}: the run was started with other settings; resume with the same " +
                                         $"options (saved: {ck.Metadata.GetValueOrDefault("options")})");
        }
        return ck;
    }

    static JsonObject Summary(ClipTrainOptions o, ClipVisionConfig cfg, int tap, IClipSceneSource source,
        IReadOnlyList<JsonObject> history, JsonObject? initProbe, JsonObject final, double seconds, long parameters)
    {
        var summary = new JsonObject { ["kind"] = "clip-train" };
        foreach (var (k, v) in Settings(o, cfg, tap, source)) summary[k] = v?.DeepClone();
        summary["parameters_trained"] = parameters;
        summary["scene_indices"] =
            $"epoch e: {o.Images} scenes from e*{o.Images} (one-object epochs + {CurriculumFirstIndex}), " +
            $"probe {ProbeFirstIndex}.., whitening sample {WhitenFirstIndex}..";
        summary["threads"] = get_num_threads();
        summary["seconds"] = Math.Round(seconds, 1);
        summary["history"] = new JsonArray(history.Select(h => (JsonNode)h.DeepClone()).ToArray());
        summary["probe_init"] = initProbe?.DeepClone();
        summary["probe_final"] = final;
        return summary;
    }

    static void WriteOutput(string outDir, ClipTrainingNet net, ClipVisionConfig cfg, JsonObject summary)
    {
        using (var scope = NewDisposeScope())
            ClipCheckpointFactory.WriteFolder(outDir, cfg,
                net.Clip.StateDictForSaving().ToDictionary(kv => kv.Key, kv => kv.Value.detach()));
        var indented = new JsonSerializerOptions { WriteIndented = true };
        var layers = new JsonObject
        {
            ["init"] = (summary["probe_init"] as JsonObject)?["layers"]?.DeepClone(),
            ["final"] = (summary["probe_final"] as JsonObject)?["layers"]?.DeepClone(),
            ["note"] = "per hidden state: family presence read-out accuracy from mean-pooled tokens and R2 of " +
                       "per-patch colour mean/std from patch tokens (ridge, held-out scenes)",
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, "layers.json"), layers.ToJsonString(indented));
        AtomicFile.WriteAllText(Path.Combine(outDir, "training.json"), summary.ToJsonString(indented));
    }
}
