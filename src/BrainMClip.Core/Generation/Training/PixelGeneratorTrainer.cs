using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BrainMClip.Features;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.IO;
using BrainMClip.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Training;

/// <summary>A thread count that applies from an optimizer step on (<c>generator train --threads-from STEP:N</c>).
/// </summary>
public sealed record ThreadsFromStep(int Step, int Threads)
{
    /// <summary>Parses "STEP:N" (STEP ≥ 0, N ≥ 1).</summary>
    public static ThreadsFromStep Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int step)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && n >= 1)
            return new ThreadsFromStep(step, n);
        throw UserInputException.Invalid(nameof(PixelGeneratorOptions.ThreadsFrom),
            $"threads-from '{text}': expected STEP:N, an optimizer step (0 or more) and a thread count (1 or more), " +
            "e.g. 1500:2");
    }
}

/// <summary>Settings of <c>generator train</c>.</summary>
public sealed record PixelGeneratorOptions
{
    public required string ImagesPath { get; init; }
    public required string FeaturesPath { get; init; }
    public required string OutDir { get; init; }
    public int Steps { get; init; } = 300;
    /// <summary>32 or 64 pixels.</summary>
    public int Size { get; init; } = 32;
    public long Seed { get; init; }
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Probability of replacing the context by zeros (trains the unconditional branch used by
    /// guidance).</summary>
    public double ContextDropout { get; init; } = 0.1;
    /// <summary>EMA decay of the saved weights; null = 1 − 5/steps capped at 0.999 (short runs must not average in
    /// early weights).</summary>
    public double? EmaDecay { get; init; }
    /// <summary>Block channels per level (null = [32, 64, 64] at 32 px, [32, 64, 64, 64] at 64 px).</summary>
    public int[]? Channels { get; init; }
    /// <summary>Largest feature-map side that gets cross-/self-attention (16 at 32 px: levels 16×16 and 8×8; 8: only
    /// 8×8).</summary>
    public int AttentionResolution { get; init; } = 16;
    /// <summary>What the UNet predicts: "epsilon", "v_prediction" or "sample" (x0); written to the scheduler
    /// config, so reconstruct samples with the matching parameterisation.</summary>
    public string Prediction { get; init; } = "epsilon";
    /// <summary>Also feed the patch tokens as a spatial map
    /// (<see cref="UNet2DConditionConfig.ContextMap"/>).</summary>
    public bool ContextMap { get; init; }
    /// <summary>Sub-pixels per patch-token side in the context map (0 = one value per token, resized bilinearly;
    /// <see cref="UNet2DConditionConfig.ContextMapShuffle"/>).</summary>
    public int ContextMapShuffle { get; init; }

    /// <summary>"semantic" (the CLIP-Semantic tokens) or "semantic+detail" (each token's CLIP-Semantic and
    /// CLIP-Detail vectors concatenated: the generator fuses the two predicted streams, and the detail stream's
    /// layout reaches the context map).</summary>
    public string Context { get; init; } = "semantic";

    /// <summary>Probability that a training sample's context is corrupted stream by stream (<see
    /// cref="Training.ContextNoise"/>); 0 = off.</summary>
    public double ContextNoise { get; init; }
    /// <summary>Where the UNet, its EMA copy and each batch live (null = the CPU); images, context and the random
    /// draws stay on the CPU, so a seed gives the same batches on every device.</summary>
    public Device? Device { get; init; }

    /// <summary>Steps between checkpoints (train-state/last.ckpt; <c>--resume</c> continues from the last
    /// one).</summary>
    public int CheckpointEvery { get; init; } = DefaultCheckpointEvery;
    public const int DefaultCheckpointEvery = 100;
    /// <summary>Continue the interrupted run in <see cref="OutDir"/> (bit-identical to an uninterrupted one at the
    /// same thread count).</summary>
    public bool Resume { get; init; }
    /// <summary>Stop after this many checkpoints (as if interrupted); the run can be resumed later.</summary>
    public int? StopAfterCheckpoints { get; init; }
    /// <summary>From this optimizer step on, use this many torch threads (null = keep the process's count). The demo
    /// trains the generator on one core beside the brain stages and widens it to both once they are done; fixed by
    /// step, not by clock, so a run computes the same on every attempt (thread counts can change the sums' order on
    /// some CPUs, docs/reliability.md).</summary>
    public ThreadsFromStep? ThreadsFrom { get; init; }

    public static readonly string[] Contexts = ["semantic", "semantic+detail"];

    /// <summary>The feature tensors of <see cref="Context"/>, in concatenation order.</summary>
    public string[] ContextStreams => Context switch
    {
        "semantic" => [GeneratorInfo.SemanticStream],
        "semantic+detail" => [GeneratorInfo.SemanticStream, GeneratorInfo.DetailStream],
        _ => throw UserInputException.Invalid(nameof(Context),
            $"unknown context '{Context}' (expected one of {string.Join(", ", Contexts)})"),
    };
}

/// <summary>The run's outcome; <paramref name="Completed"/> is false when it stopped early (StopAfterCheckpoints) and
/// nothing was written but the training state.</summary>
public sealed record PixelGeneratorResult(string OutDir, int Steps, double FinalLoss, double Seconds, long Parameters,
    bool Completed = true);

/// <summary>
/// Trains the embedded generator (docs/generation.md): the same diffusers UNet class in pixel space (3 in/out channels,
/// no VAE) on the stimulus images, conditioned by cross-attention on their CLIP-Semantic tokens, with the epsilon
/// objective on the SD noise schedule, AdamW and an EMA of the weights. Writes a generator folder <see
/// cref="Reconstruction"/> can load.
/// </summary>
public static class PixelGeneratorTrainer
{
    /// <summary>
    /// The small UNet config: one level per halving down to 8×8 (32 px: 3 levels, 64 px: 4), one layer per block,
    /// cross-attention only at 16×16 and below so a step stays cheap on a CPU; 4 heads.
    /// </summary>
    public static UNet2DConditionConfig SmallConfig(int size, int contextDim, int[]? channels = null,
        int attentionResolution = 16, bool contextMap = false, int contextMapShuffle = 0)
    {
        if (attentionResolution < 1 || attentionResolution > size)
            throw UserInputException.Invalid("AttentionResolution",
                $"attention resolution must be 1 to {size} (the largest feature-map side with attention; got " +
                $"{attentionResolution})");
        int levels = size switch
        {
            32 => 3,
            64 => 4,
            _ => throw UserInputException.Invalid("Size", $"image size must be 32 or 64 (got {size})"),
        };
        channels ??= size == 32 ? [32, 64, 64] : [32, 64, 64, 64];
        if (channels.Length != levels)
            throw UserInputException.Invalid("Channels",
                $"{channels.Length} block channel values given but size {size} uses {levels} levels");
        if (channels.Any(c => c <= 0 || c % 8 != 0))
            throw UserInputException.Invalid("Channels",
                $"block channels {string.Join(",", channels)}: each must be a positive multiple of 8 (8 norm groups, " +
                $"4 heads)");
        // Attention where the feature map side is at most attentionResolution (the mid block always has it).
        var cross = Enumerable.Range(0, levels).Select(i => size >> i <= attentionResolution).ToArray();
        return new UNet2DConditionConfig
        {
            SampleSize = size,
            InChannels = 3,
            OutChannels = 3,
            BlockOutChannels = channels,
            LayersPerBlock = Enumerable.Repeat(1, levels).ToArray(),
            TransformerLayersPerBlock = Enumerable.Repeat(1, levels).ToArray(),
            DownBlockTypes = cross.Select(c => c ? "CrossAttnDownBlock2D" : "DownBlock2D").ToArray(),
            UpBlockTypes = cross.Reverse().Select(c => c ? "CrossAttnUpBlock2D" : "UpBlock2D").ToArray(),
            NumAttentionHeads = Enumerable.Repeat(4, levels).ToArray(),
            NormNumGroups = 8,
            CrossAttentionDim = contextDim,
            ContextMap = contextMap,
            ContextMapShuffle = contextMapShuffle,
        };
    }

    /// <summary>Stimulus .npy (N, H, W, 3), uint8 or 0–255 floats → (N, 3, size, size) in [−1, 1].</summary>
    public static Tensor LoadImages(string path, int size)
    {
        using var scope = NewDisposeScope();
        var raw = Npy.ReadTensor(path);
        if (raw.dim() != 4 || raw.shape[3] != 3)
            throw new UserInputException(
                $"{path}: expected stimulus images (N, H, W, 3), got ({string.Join(", ", raw.shape)})");
        var t = raw.to(ScalarType.Float32).permute(0, 3, 1, 2).contiguous() / 255.0f;
        if (t.shape[2] != size || t.shape[3] != size)
            t = nn.functional.interpolate(t, size: [size, size], mode: InterpolationMode.Bilinear, align_corners: false,
                antialias: t.shape[2] > size);
        return (t.clamp(0, 1) * 2 - 1).MoveToOuterDisposeScope();
    }

    public static PixelGeneratorResult Train(PixelGeneratorOptions o, TextWriter? log = null)
    {
        Validate(o);
        var streams = o.ContextStreams;
        var clock = Stopwatch.StartNew();
        using var outer = NewDisposeScope();
        log ??= Console.Error;
        log.WriteLine($"generator train: loading {o.ImagesPath}");
        var images = LoadImages(o.ImagesPath, o.Size);
        log.WriteLine(
            $"generator train: {images.shape[0]} images at {o.Size}x{o.Size} ({clock.Elapsed.TotalSeconds:0.0}s)");
        var (context, widths) = LoadContext(o, streams, images.shape[0]);
        using var contextNoise = o.ContextNoise != 0 ? new ContextNoise(context, widths, o.ContextNoise) : null;
        long n = images.shape[0];
        int tokens = (int)context.shape[1], dim = (int)context.shape[2];

        if (o.ContextMap) RequirePatchGrid(o, tokens);
        // After the inputs' checks: a bad input is reported as such, also in a folder that holds a run.
        var resumeFrom = OpenState(o);
        var cfg = SmallConfig(o.Size, dim, o.Channels, o.AttentionResolution, o.ContextMap,
            o.ContextMap ? o.ContextMapShuffle : 0);
        using var unet = new UNet2DConditionModel(cfg);
        // PyTorch's default initialisation from the run's generator (exactly what manual_seed(seed) before
        // constructing the UNet gave).
        using (var initGen = new Generator((ulong)o.Seed)) ModuleInit.Default(unet, initGen);
        using var ema = new UNet2DConditionModel(cfg);
        CopyWeights(unet, ema);
        if (!TorchSetup.IsCpu(o.Device)) { unet.to(o.Device!); ema.to(o.Device!); } // before the optimiser's state
        // set_alpha_to_one: DDIM's last step then returns the clean image itself. SD's false leaves √(1 − ᾱ₀) = 0.029
        // of the noise estimate in the output, invisible after a VAE but a pixel grain here (measured on the demo:
        // upper bound CLIP 2-way 87.0 % → 92.7 %, docs/generation.md). Training is unaffected (same ᾱ table).
        var sched = SchedulerConfig.StableDiffusion with { PredictionType = o.Prediction, SetAlphaToOne = true };
        var alphas = tensor(sched.AlphasCumprod());
        using var generators = new RunGenerators();
        var data = generators.Add("data", (ulong)o.Seed + 17);
        double emaDecay = o.EmaDecay ?? Math.Clamp(1 - 5.0 / o.Steps, 0.0, 0.999);
        var task = new PixelGeneratorTask(unet, ema, images, context, alphas, sched.NumTrainTimesteps, o, data,
            contextNoise, emaDecay)
        { Fingerprint = Fingerprint(o), Loop = null! };
        var trained = unet.parameters().ToList();
        long parameters = trained.Sum(p => p.numel());
        using var loop = new TrainingLoop(task, PixelGeneratorTask.Epochs(o), new OptimizationSettings
        {
            Groups = [(trained, 0.01)],
            MaxLr = o.LearningRate,
            Schedule = new WarmupCosineSchedule(o.LearningRate, Math.Min(100, Math.Max(1, o.Steps / 10)), o.Steps,
                floor: 0.1),
            ClipGroups = [trained],
            MaxGradNorm = 1.0,
        }, StateFiles(o.OutDir), generators)
        { ProgressLabel = "generator train", Log = log };
        task.Loop = loop;
        if (resumeFrom is not null)
        {
            using (resumeFrom) loop.Restore(resumeFrom);
            log.WriteLine($"generator train: resuming {o.OutDir} after step {loop.Step}");
        }
        loop.StartSchedule();
        if (!loop.Run(o.StopAfterCheckpoints))
            return new PixelGeneratorResult(o.OutDir, (int)loop.Step, task.LossAverage, clock.Elapsed.TotalSeconds,
                parameters, Completed: false);
        ema.eval();
        double lossAvg = task.LossAverage;
        var training = TrainingRecord(o, n, emaDecay, cfg, lossAvg, clock.Elapsed.TotalSeconds, parameters);
        var info = new GeneratorInfo
        {
            Kind = "pixel",
            ImageSize = o.Size,
            ContextTokens = tokens,
            ContextDim = dim,
            ContextStreams = streams,
            Conditioning = streams.Length == 1 ? new GeneratorInfo().Conditioning
                : "CLIP-Semantic tokens (VD image context) and CLIP-Detail tokens, concatenated per token",
            Training = training,
        };
        GeneratorFolder.SavePixelGenerator(o.OutDir, ema, sched, info);
        return new PixelGeneratorResult(o.OutDir, o.Steps, lossAvg, clock.Elapsed.TotalSeconds, parameters);
    }

    static void Validate(PixelGeneratorOptions o)
    {
        UserInputException.Require(o.Steps >= 1, nameof(o.Steps), $"steps must be at least 1 (got {o.Steps})");
        UserInputException.Require(o.BatchSize >= 1, nameof(o.BatchSize),
            $"batch size must be at least 1 (got {o.BatchSize})");
        UserInputException.Require(Predictions.Contains(o.Prediction), nameof(o.Prediction),
            $"unknown prediction '{o.Prediction}' (expected one of {string.Join(", ", Predictions)})");
        UserInputException.Require(o.CheckpointEvery >= 1, nameof(o.CheckpointEvery),
            $"checkpoint interval must be at least 1 step (got {o.CheckpointEvery})");
    }

    /// <summary>The training state in OUT/train-state/ and the metrics in OUT/metrics.jsonl.</summary>
    static LoopFiles StateFiles(string outDir) => new()
    {
        LastCheckpoint = Path.Combine(outDir, "train-state", "last.ckpt"),
        PreviousCheckpoint = Path.Combine(outDir, "train-state", "prev.ckpt"),
        MetricsPath = Path.Combine(outDir, "metrics.jsonl"),
    };

    /// <summary>Every setting that shapes the run (a resumed run must use the same).</summary>
    static string Fingerprint(PixelGeneratorOptions o) => JsonSerializer.Serialize(o with
    {
        ImagesPath = Path.GetFullPath(o.ImagesPath),
        FeaturesPath = Path.GetFullPath(o.FeaturesPath),
        OutDir = "",
        Resume = false,
        StopAfterCheckpoints = null,
        ThreadsFrom = null, // like --threads: how the run computes, not what
    });

    /// <summary>The checkpoint to resume from, or null for a fresh run; refuses to overwrite or mix runs.</summary>
    static Checkpoint? OpenState(PixelGeneratorOptions o)
    {
        var files = StateFiles(o.OutDir);
        bool exists = File.Exists(files.LastCheckpoint) || File.Exists(files.PreviousCheckpoint);
        if (exists && !o.Resume)
            throw new UserInputException(
                $"{o.OutDir}: already holds a generator training run; resume it or choose another output folder");
        if (!exists) return null;
        var ck = Checkpoint.LoadLatestGood(files.LastCheckpoint, files.PreviousCheckpoint, o.OutDir, null);
        if (ck.Metadata.GetValueOrDefault("options") != Fingerprint(o))
        {
            ck.Dispose();
            throw new UserInputException($"{files.LastCheckpoint}: the run was started with other settings; resume " +
                                         $"with the same options (saved: {ck.Metadata.GetValueOrDefault("options")})");
        }
        return ck;
    }

    /// <summary>What generator_info.json records about the training run.</summary>
    static JsonElement TrainingRecord(PixelGeneratorOptions o, long n, double emaDecay, UNet2DConditionConfig cfg,
        double lossAvg, double seconds, long parameters) =>
        JsonSerializer.SerializeToElement(new
        {
            images = Path.GetFullPath(o.ImagesPath),
            features = Path.GetFullPath(o.FeaturesPath),
            samples = n,
            steps = o.Steps,
            batch_size = o.BatchSize,
            learning_rate = o.LearningRate,
            context_dropout = o.ContextDropout,
            ema_decay = Math.Round(emaDecay, 5),
            seed = o.Seed,
            channels = cfg.BlockOutChannels,
            attention_resolution = o.AttentionResolution,
            context_map = o.ContextMap,
            context_map_shuffle = cfg.ContextMapShuffle,
            context = o.Context,
            context_noise = o.ContextNoise,
            final_loss_ema = Math.Round(lossAvg, 6),
            seconds = Math.Round(seconds, 1),
            parameters,
            objective = $"{o.Prediction}, SD scaled_linear schedule (1000 steps), weights = EMA",
        });

    /// <summary>The training features' context tokens (N,T,ΣC) float32, one row per image: each stream of
    /// <paramref name="streams"/> ('semantic', then 'detail') concatenated along the channel axis.</summary>
    static (Tensor Context, int[] Widths) LoadContext(PixelGeneratorOptions o, string[] streams, long images)
    {
        using var scope = NewDisposeScope();
        var header = FeatureFile.ReadHeader(o.FeaturesPath);
        var parts = new List<Tensor>();
        foreach (var name in streams)
        {
            if (!header.Entries.ContainsKey(name))
                throw new UserInputException(
                    $"{o.FeaturesPath}: tensor '{name}' (N,T,C) not found; extract features with " +
                    "'brainmclip features'");
            var t = FeatureFile.Read(o.FeaturesPath, name).to_type(ScalarType.Float32);
            if (t.dim() != 3)
                throw new UserInputException(
                    $"{o.FeaturesPath}: '{name}' must be (N,T,C), got [{string.Join(",", t.shape)}]");
            if (t.shape[0] != images)
                throw new UserInputException(
                    $"{o.FeaturesPath}: {t.shape[0]} '{name}' rows but {o.ImagesPath} has {images} images; they " +
                    "must be the same samples in the same order");
            if (parts.Count > 0 && t.shape[1] != parts[0].shape[1])
                throw new UserInputException(
                    $"{o.FeaturesPath}: '{name}' has {t.shape[1]} tokens but '{streams[0]}' has {parts[0].shape[1]}; " +
                    "the semantic+detail context needs the same tokens in both");
            parts.Add(t);
        }
        return ((parts.Count == 1 ? parts[0] : cat(parts, 2)).MoveToOuterDisposeScope(),
            parts.Select(t => (int)t.shape[2]).ToArray());
    }

    /// <summary>--context-map: the tokens must be a class token + a square g×g grid, and a shuffled map no larger
    /// than the image.</summary>
    static void RequirePatchGrid(PixelGeneratorOptions o, int tokens)
    {
        int g = (int)Math.Round(Math.Sqrt(Math.Max(tokens - 1, 0)));
        if (tokens < 2 || g * g != tokens - 1)
            throw new UserInputException(
                $"{o.FeaturesPath}: the context map needs context tokens = a class token + a square grid of patches; " +
                $"got {tokens} tokens");
        if (o.ContextMapShuffle < 0 || o.ContextMapShuffle == 1 || g * o.ContextMapShuffle > o.Size)
            throw UserInputException.Invalid(nameof(o.ContextMapShuffle),
                $"context-map shuffle {o.ContextMapShuffle}: expected 0 or a factor of at least 2 with " +
                $"{g} (the patch grid of {o.FeaturesPath}) x factor <= {o.Size} (the image side)");
    }

    /// <summary>The UNet parameterisations the trainer and the DDIM/DPM schedulers share.</summary>
    public static readonly string[] Predictions = ["epsilon", "v_prediction", "sample"];

    /// <summary>
    /// Denoising loss (target per <see cref="PixelGeneratorOptions.Prediction"/>) on a random batch: random images,
    /// context dropped with probability ContextDropout, random timesteps and noise, all drawn from
    /// <paramref name="gen"/> in a fixed order. <paramref name="mark"/> names phases for the bench
    /// (generator_step_demo).
    /// </summary>
    public static Tensor DenoisingLoss(UNet2DConditionModel unet, Tensor images, Tensor context, Tensor alphas,
        int timesteps, PixelGeneratorOptions o, Generator gen, ContextNoise? contextNoise = null,
        Action<string>? mark = null)
    {
        long n = images.shape[0];
        var idx = randint(0, n, [Math.Min(o.BatchSize, n)], dtype: ScalarType.Int64, generator: gen);
        var x0 = images.index_select(0, idx);
        var ctx = context.index_select(0, idx);
        if (contextNoise is not null) ctx = contextNoise.Apply(ctx, gen);
        long b = x0.shape[0];
        var keep = (rand([b, 1, 1], generator: gen) >= o.ContextDropout).to_type(ScalarType.Float32);
        ctx = ctx * keep;
        var t = randint(0, timesteps, [b], dtype: ScalarType.Int64, generator: gen);
        var noise = randn(x0.shape, generator: gen);
        var a = alphas.index_select(0, t).view(b, 1, 1, 1);
        var xt = a.sqrt() * x0 + (1 - a).sqrt() * noise;
        var target = Target(o.Prediction, x0, noise, a);
        if (!TorchSetup.IsCpu(o.Device))
            (xt, t, ctx, target) = (xt.to(o.Device!), t.to(o.Device!), ctx.to(o.Device!), target.to(o.Device!));
        mark?.Invoke("batch");
        var pred = unet.Forward(xt, t, ctx);
        var loss = nn.functional.mse_loss(pred, target);
        mark?.Invoke("forward");
        return loss;
    }

    /// <summary>
    /// What the UNet must output for x_t = √ᾱ·x0 + √(1−ᾱ)·ε under <paramref name="prediction"/>: ε, the clean image,
    /// or v = √ᾱ·ε − √(1−ᾱ)·x0 (the diffusers conventions the schedulers decode).
    /// </summary>
    public static Tensor Target(string prediction, Tensor x0, Tensor noise, Tensor alphaBar) => prediction switch
    {
        "epsilon" => noise,
        "sample" => x0,
        "v_prediction" => alphaBar.sqrt() * noise - (1 - alphaBar).sqrt() * x0,
        _ => throw UserInputException.Invalid("Prediction",
            $"unknown prediction '{prediction}' (expected one of {string.Join(", ", Predictions)})"),
    };

    static void CopyWeights(nn.Module from, nn.Module to)
    {
        using var noGrad = no_grad();
        var src = from.state_dict();
        foreach (var (k, v) in to.state_dict()) v.copy_(src[k]);
    }
}
