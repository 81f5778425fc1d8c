using System.Text.Json;
using System.Text.Json.Serialization;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Schedulers;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// <c>generator.json</c> of our own generator folders (the pixel-space generator trained by <c>generator train</c>).
/// Versatile Diffusion / diffusers folders do not need one.
/// </summary>
public sealed record GeneratorInfo
{
    [JsonPropertyName("format")] public string Format { get; init; } = "brainmclip-generator";
    [JsonPropertyName("version")] public int Version { get; init; } = 1;
    /// <summary>"pixel" (UNet on images, no VAE) or "latent" (UNet + VAE).</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "pixel";
    [JsonPropertyName("image_size")] public int ImageSize { get; init; }
    [JsonPropertyName("context_tokens")] public int ContextTokens { get; init; }
    [JsonPropertyName("context_dim")] public int ContextDim { get; init; }
    [JsonPropertyName("conditioning")]
    public string Conditioning
    { get; init; } = "CLIP-Semantic tokens (VD image context)";
    [JsonPropertyName("unconditional_context")] public string UnconditionalContext { get; init; } = "zeros";
    /// <summary>
    /// The feature tensors whose tokens, concatenated along the channel axis in this order, form the UNet's context:
    /// ["semantic"] (the default; also when the key is absent) or ["semantic", "detail"] (<c>generator train
    /// --context semantic+detail</c>: the generator fuses the two streams itself, docs/generation.md).
    /// </summary>
    [JsonPropertyName("context_streams")] public string[] ContextStreams { get; init; } = [SemanticStream];
    public const string SemanticStream = "semantic", DetailStream = "detail";

    /// <summary>True when the context also holds the CLIP-Detail tokens.</summary>
    [JsonIgnore] public bool UsesDetail => ContextStreams.Contains(DetailStream);
    [JsonPropertyName("training")] public JsonElement? Training { get; init; }

    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}

/// <summary>
/// A generator folder: a Versatile Diffusion folder (<c>image_unet/</c>, <c>vae/</c>, <c>scheduler/</c>), a diffusers
/// pipeline-style folder (<c>unet/</c>, <c>vae/</c>, <c>scheduler/</c> or <c>ddim/</c>), or our pixel-space generator
/// (<c>unet/</c>, <c>scheduler/</c>, <c>generator.json</c>, no VAE). An optional <c>clip/</c> HF CLIP folder enables
/// best-of-N.
/// </summary>
public sealed class GeneratorFolder : IDisposable
{
    public string Folder { get; }
    public UNet2DConditionModel Unet { get; }
    public AutoencoderKL? Vae { get; }
    public SchedulerConfig SchedulerConfig { get; }
    public GeneratorInfo? Info { get; }
    /// <summary>The CLIP folder for best-of-N, when present.</summary>
    public string? ClipFolder { get; }

    GeneratorFolder(string folder, UNet2DConditionModel unet, AutoencoderKL? vae, SchedulerConfig scheduler,
        GeneratorInfo? info, string? clip)
    {
        Folder = folder; Unet = unet; Vae = vae; SchedulerConfig = scheduler; Info = info; ClipFolder = clip;
    }

    public static string? FirstExisting(string folder, params string[] names) =>
        names.Select(n => Path.Combine(folder, n)).FirstOrDefault(Directory.Exists);

    /// <param name="dtype">Float32, or Float16/BFloat16 to halve the weights' memory (activations follow the
    /// weights).</param>
    public static GeneratorFolder Load(string folder, ScalarType dtype = ScalarType.Float32)
    {
        UserInputException.RequireDirectory(folder, "generator");
        string unetDir = FirstExisting(folder, "image_unet", "unet")
            ?? throw new UserInputException(
                $"{folder}: not a generator folder: expected a UNet sub-folder 'image_unet/' (Versatile Diffusion) " +
                $"or 'unet/'");
        string schedDir = FirstExisting(folder, "scheduler", "ddim")
            ?? throw new UserInputException(
                $"{folder}: not a generator folder: expected 'scheduler/' with scheduler_config.json");
        var schedFile = Path.Combine(schedDir, "scheduler_config.json");
        var scheduler = SchedulerConfig.Load(schedFile);
        GeneratorInfo? info = null;
        var infoPath = Path.Combine(folder, "generator.json");
        if (File.Exists(infoPath))
        {
            try { info = JsonSerializer.Deserialize<GeneratorInfo>(File.ReadAllText(infoPath), GeneratorInfo.Json); }
            catch (JsonException e)
            { throw new UserInputException($"{infoPath}: invalid generator description ({e.Message})"); }
            if (info?.Format != "brainmclip-generator") throw new UserInputException(
                $"{infoPath}: 'format' must be \"brainmclip-generator\"");
            if (info.ContextStreams is not ([GeneratorInfo.SemanticStream] or
                [GeneratorInfo.SemanticStream, GeneratorInfo.DetailStream]))
                throw new UserInputException(
                    $"{infoPath}: 'context_streams' must be [\"semantic\"] or [\"semantic\", \"detail\"]");
        }
        string? vaeDir = FirstExisting(folder, "vae");
        var unet = UNet2DConditionModel.FromPretrained(unetDir, dtype);
        AutoencoderKL? vae = null;
        try
        {
            // Decoder only: generation never encodes an image.
            if (vaeDir != null) vae = AutoencoderKL.FromPretrained(vaeDir, dtype, decoderOnly: true);
            if (vae == null && (unet.Config.InChannels != 3 || unet.Config.OutChannels != 3))
                throw new UserInputException(
                    $"{folder}: no 'vae/' folder, so the UNet must be pixel-space (3 in/out channels), but " +
                    $"{unetDir}/config.json has {unet.Config.InChannels}/{unet.Config.OutChannels}");
            if (vae != null && vae.Config.LatentChannels != unet.Config.InChannels)
                throw new UserInputException(
                    $"{folder}: the UNet takes {unet.Config.InChannels} channels but the VAE has " +
                    $"{vae.Config.LatentChannels} latent channels");
        }
        catch
        {
            unet.Dispose(); vae?.Dispose();
            throw;
        }
        string? clip = FirstExisting(folder, "clip", "image_encoder");
        return new GeneratorFolder(Path.GetFullPath(folder), unet, vae, scheduler, info, clip);
    }

    /// <summary>A fresh scheduler of the requested kind ("ddim" or "dpm") on this folder's training schedule.</summary>
    public IDiffusionScheduler CreateScheduler(string kind) => kind switch
    {
        "ddim" => new DDIMScheduler(SchedulerConfig),
        "dpm" or "dpm++" or "dpmsolver" => new DPMSolverMultistepScheduler(SchedulerConfig),
        _ => throw UserInputException.Invalid("Scheduler", $"unknown scheduler '{kind}' (expected ddim or dpm)"),
    };

    public ImageVariationPipeline CreatePipeline(string scheduler = "ddim") =>
        new(Unet, Vae, CreateScheduler(scheduler));

    /// <summary>Writes a pixel-space generator folder atomically file by file (unet/, scheduler/,
    /// generator.json).</summary>
    public static void SavePixelGenerator(string folder, UNet2DConditionModel unet, SchedulerConfig scheduler,
        GeneratorInfo info)
    {
        Directory.CreateDirectory(folder);
        var unetDir = Path.Combine(folder, "unet");
        var schedDir = Path.Combine(folder, "scheduler");
        Directory.CreateDirectory(unetDir);
        Directory.CreateDirectory(schedDir);
        WeightLoader.Save(unet, Path.Combine(unetDir, "diffusion_pytorch_model.safetensors"));
        IO.AtomicFile.WriteAllText(Path.Combine(unetDir, "config.json"), unet.Config.ToJson());
        IO.AtomicFile.WriteAllText(Path.Combine(schedDir, "scheduler_config.json"), scheduler.ToJson());
        // generator.json last: its presence marks a complete folder.
        IO.AtomicFile.WriteAllText(Path.Combine(folder, "generator.json"),
            JsonSerializer.Serialize(info, GeneratorInfo.Json));
    }

    public void Dispose()
    {
        Unet.Dispose();
        Vae?.Dispose();
    }
}
