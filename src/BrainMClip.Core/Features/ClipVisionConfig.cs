using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Features;

/// <summary>
/// The vision tower's hyper-parameters, read from a Hugging Face <c>config.json</c>:
/// <c>model_type</c> "clip_vision_model" (fields at top level) or "clip" (fields under <c>vision_config</c>, with the
/// top-level <c>projection_dim</c>). Missing fields take HF's <c>CLIPVisionConfig</c> defaults; unknown fields are
/// ignored.
/// </summary>
public sealed record ClipVisionConfig
{
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int ProjectionDim { get; init; } = 512;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int NumChannels { get; init; } = 3;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 32;
    /// <summary>quick_gelu (CLIP), gelu (erf), gelu_new / gelu_pytorch_tanh (tanh approximation).</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;

    public int GridSize => ImageSize / PatchSize;
    /// <summary>Tokens per image: CLS + one per patch.</summary>
    public int NumTokens => 1 + GridSize * GridSize;
    public int HeadDim => HiddenSize / NumAttentionHeads;

    public static readonly string[] SupportedActivations = ["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh"];

    /// <summary>The paper's detail band 11..20 of 24 layers, scaled to this depth (ViT-L/14 keeps 11..20
    /// exactly).</summary>
    public (int First, int Last) DefaultDetailLayers
    {
        get
        {
            int l = NumHiddenLayers;
            int a = Math.Max(1, (int)Math.Round(l * 11 / 24.0, MidpointRounding.AwayFromZero));
            int b = Math.Max(a, (int)Math.Round(l * 20 / 24.0, MidpointRounding.AwayFromZero));
            return (Math.Min(a, l), Math.Min(b, l));
        }
    }

    /// <summary>Throws a <see cref="UserInputException"/> naming the first invalid field.</summary>
    public ClipVisionConfig Validate(string source = "config")
    {
        void Positive(int v, string field)
        {
            if (v <= 0) throw new UserInputException($"{source}: field '{field}' must be a positive integer, got {v}");
        }
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(ProjectionDim, "projection_dim");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumChannels, "num_channels");
        Positive(ImageSize, "image_size");
        Positive(PatchSize, "patch_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new UserInputException(
                $"{source}: field 'hidden_size' ({HiddenSize}) must be divisible by 'num_attention_heads' " +
                $"({NumAttentionHeads})");
        if (ImageSize % PatchSize != 0)
            throw new UserInputException(
                $"{source}: field 'image_size' ({ImageSize}) must be divisible by 'patch_size' ({PatchSize})");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new UserInputException(
                $"{source}: field 'hidden_act' is '{HiddenAct}'; supported: {string.Join(", ", SupportedActivations)}");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
            throw new UserInputException(
                $"{source}: field 'layer_norm_eps' must be a positive number, got {LayerNormEps}");
        return this;
    }

    public static ClipVisionConfig FromFile(string path) => FromReader(ConfigReader.Load(path, "CLIP config.json"));

    public static ClipVisionConfig FromJson(JsonObject root, string source) =>
        FromReader(ConfigReader.FromObject(root, source));

    static ClipVisionConfig FromReader(ConfigReader root)
    {
        string modelType = root.String("model_type", null) ?? "clip_vision_model";
        ConfigReader vision;
        int? projection;
        switch (modelType)
        {
            case "clip_vision_model":
                vision = root;
                projection = root.IntOrNull("projection_dim");
                break;
            case "clip":
                vision = root.Section("vision_config");
                // CLIPModel's visual_projection uses the top-level projection_dim (HF default 512).
                projection = root.IntOrNull("projection_dim") ?? vision.IntOrNull("projection_dim");
                break;
            default:
                throw root.Error("model_type", $"is '{modelType}'; expected 'clip_vision_model' or 'clip'");
        }
        var d = new ClipVisionConfig();
        return new ClipVisionConfig
        {
            HiddenSize = vision.Int("hidden_size", d.HiddenSize),
            IntermediateSize = vision.Int("intermediate_size", d.IntermediateSize),
            ProjectionDim = projection ?? d.ProjectionDim,
            NumHiddenLayers = vision.Int("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = vision.Int("num_attention_heads", d.NumAttentionHeads),
            NumChannels = vision.Int("num_channels", d.NumChannels),
            ImageSize = vision.Int("image_size", d.ImageSize),
            PatchSize = vision.Int("patch_size", d.PatchSize),
            HiddenAct = vision.String("hidden_act", null) ?? d.HiddenAct,
            LayerNormEps = vision.Double("layer_norm_eps", d.LayerNormEps),
        }.Validate(vision.Path);
    }

    /// <summary>HF-style config.json text for this config (model_type clip_vision_model).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("CLIPVisionModelWithProjection"),
            ["model_type"] = "clip_vision_model",
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["image_size"] = ImageSize,
            ["patch_size"] = PatchSize,
            ["projection_dim"] = ProjectionDim,
            ["num_channels"] = NumChannels,
            ["hidden_act"] = HiddenAct,
            ["layer_norm_eps"] = LayerNormEps,
            ["attention_dropout"] = 0.0,
            ["dropout"] = 0.0,
            ["initializer_factor"] = 1.0,
            ["initializer_range"] = 0.02,
            ["torch_dtype"] = "float32",
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Named presets for <c>clip-init</c>: the real OpenAI shapes and a tiny one for the demo and
    /// tests.</summary>
    public static ClipVisionConfig Preset(string name) => name switch
    {
        // 64x64 synthetic images, 8x8 patches (65 tokens), 12 layers so the scaled detail band (6..10) is meaningful.
        "tiny" => new ClipVisionConfig
        {
            HiddenSize = 128,
            IntermediateSize = 512,
            ProjectionDim = 64,
            NumHiddenLayers = 12,
            NumAttentionHeads = 4,
            ImageSize = 64,
            PatchSize = 8,
        },
        "vit-b-32" => new ClipVisionConfig(),
        "vit-b-16" => new ClipVisionConfig { PatchSize = 16 },
        "vit-l-14" => new ClipVisionConfig
        {
            HiddenSize = 1024,
            IntermediateSize = 4096,
            ProjectionDim = 768,
            NumHiddenLayers = 24,
            NumAttentionHeads = 16,
            PatchSize = 14,
        },
        _ => throw UserInputException.Invalid("Preset",
            $"unknown preset '{name}' (expected one of {string.Join(", ", PresetNames)})"),
    };

    public static readonly string[] PresetNames = ["tiny", "vit-b-16", "vit-b-32", "vit-l-14"];
}
