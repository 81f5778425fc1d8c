using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Generation.Models;

/// <summary>
/// The fields of a diffusers <c>UNet2DConditionModel</c> <c>config.json</c> that the SD-1.x family uses.
/// Values this implementation does not support are rejected on load with the field's name.
/// </summary>
public sealed record UNet2DConditionConfig
{
    public int SampleSize { get; init; } = 64;
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public bool CenterInputSample { get; init; }
    public bool FlipSinToCos { get; init; } = true;
    public double FreqShift { get; init; }
    public string[] DownBlockTypes
    { get; init; } = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public string? MidBlockType { get; init; } = "UNetMidBlock2DCrossAttn";
    public string[] UpBlockTypes
    { get; init; } = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    /// <summary>Per level (diffusers accepts an int or a list).</summary>
    public int[] LayersPerBlock { get; init; } = [2, 2, 2, 2];
    public int DownsamplePadding { get; init; } = 1;
    public double MidBlockScaleFactor { get; init; } = 1.0;
    public int NormNumGroups { get; init; } = 32;
    public double NormEps { get; init; } = 1e-5;
    public int CrossAttentionDim { get; init; } = 1280;
    public int[] TransformerLayersPerBlock { get; init; } = [1, 1, 1, 1];
    /// <summary>The number of attention heads per level: diffusers' historical <c>attention_head_dim</c> (or
    /// <c>num_attention_heads</c> when set).</summary>
    public int[] NumAttentionHeads { get; init; } = [8, 8, 8, 8];
    public bool UseLinearProjection { get; init; }
    public bool UpcastAttention { get; init; }
    public int ConvInKernel { get; init; } = 3;
    public int ConvOutKernel { get; init; } = 3;
    public int? TimeEmbeddingDim { get; init; }
    /// <summary>
    /// Our extension (config key <c>brainmclip_context_map</c>, absent in diffusers configs): the context's patch
    /// tokens (all but the first, a square grid) also enter as a spatial map, projected 1×1 to the first block's
    /// channels, resized bilinearly to the sample and added after conv_in. Cross-attention alone has no positions
    /// to tell where a token's object is; the map carries the layout.
    /// </summary>
    public bool ContextMap { get; init; }
    /// <summary>
    /// Our extension (config key <c>brainmclip_context_map_shuffle</c>): 0 resizes the context map bilinearly; a
    /// factor f &gt; 1 projects each patch token to f×f sub-pixels of the first block's channels (1×1 conv to
    /// C·f² channels, then pixel shuffle), so a token decodes its own patch instead of one value smeared over it; a
    /// map still smaller than the sample is then resized bilinearly.
    /// </summary>
    public int ContextMapShuffle { get; init; }
    public int Levels => BlockOutChannels.Length;
    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    /// <summary>config.json key of <see cref="ContextMap"/>.</summary>
    public const string ContextMapKey = "brainmclip_context_map";
    /// <summary>config.json key of <see cref="ContextMapShuffle"/>.</summary>
    public const string ContextMapShuffleKey = "brainmclip_context_map_shuffle";

    public static readonly string[] DownTypes = ["CrossAttnDownBlock2D", "DownBlock2D"];
    public static readonly string[] UpTypes = ["CrossAttnUpBlock2D", "UpBlock2D"];

    public static UNet2DConditionConfig Load(string path) => From(ConfigReader.Load(path));

    public static UNet2DConditionConfig From(ConfigReader r)
    {
        RejectUnsupported(r);

        var channels = r.Ints("block_out_channels", [320, 640, 1280, 1280]);
        if (channels.Length == 0 || channels.Any(c => c <= 0)) throw r.Error("block_out_channels",
            "must be a non-empty list of positive integers");
        int levels = channels.Length;
        var down = r.Strings("down_block_types",
            ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]);
        var up = r.Strings("up_block_types",
            ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]);
        if (down.Length != levels) throw r.Error("down_block_types",
            $"has {down.Length} entries but block_out_channels has {levels}");
        if (up.Length != levels) throw r.Error("up_block_types",
            $"has {up.Length} entries but block_out_channels has {levels}");
        foreach (var t in down)
            if (!DownTypes.Contains(t)) throw r.Error("down_block_types",
                $"contains \"{t}\", which is not supported (supported: {string.Join(", ", DownTypes)})");
        foreach (var t in up)
            if (!UpTypes.Contains(t)) throw r.Error("up_block_types",
                $"contains \"{t}\", which is not supported (supported: {string.Join(", ", UpTypes)})");
        string? mid = r.String("mid_block_type", "UNetMidBlock2DCrossAttn");
        if (mid != null && mid != "UNetMidBlock2DCrossAttn")
            throw r.Error("mid_block_type", $"= \"{mid}\" is not supported (supported: UNetMidBlock2DCrossAttn, null)");

        // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (the historical misnomer).
        int[] heads = r.Has("num_attention_heads")
            ? r.IntOrList("num_attention_heads", 8, levels)
            : r.IntOrList("attention_head_dim", 8, levels);
        int groups = NormGroups(r, channels, heads);
        int convIn = r.Int("conv_in_kernel", 3), convOut = r.Int("conv_out_kernel", 3);
        if (convIn % 2 == 0 || convIn < 1) throw r.Error("conv_in_kernel", "must be an odd positive integer");
        if (convOut % 2 == 0 || convOut < 1) throw r.Error("conv_out_kernel", "must be an odd positive integer");
        var cfg = new UNet2DConditionConfig
        {
            SampleSize = r.IsList("sample_size")
                ? r.Ints("sample_size", [64]) is
                { Length: > 0 } ss ? ss[0] : throw r.Error("sample_size", "must be an integer or a non-empty list")
                : r.Int("sample_size", 64),
            InChannels = r.Int("in_channels", 4),
            OutChannels = r.Int("out_channels", 4),
            CenterInputSample = r.Bool("center_input_sample", false),
            FlipSinToCos = r.Bool("flip_sin_to_cos", true),
            FreqShift = r.Double("freq_shift", 0),
            DownBlockTypes = down,
            MidBlockType = mid,
            UpBlockTypes = up,
            BlockOutChannels = channels,
            LayersPerBlock = r.IntOrList("layers_per_block", 2, levels),
            DownsamplePadding = r.Int("downsample_padding", 1),
            MidBlockScaleFactor = r.Double("mid_block_scale_factor", 1),
            NormNumGroups = groups,
            NormEps = r.Double("norm_eps", 1e-5),
            CrossAttentionDim = r.Int("cross_attention_dim", 1280),
            TransformerLayersPerBlock = r.IntOrList("transformer_layers_per_block", 1, levels),
            NumAttentionHeads = heads,
            UseLinearProjection = r.Bool("use_linear_projection", false),
            UpcastAttention = r.Bool("upcast_attention", false),
            ConvInKernel = convIn,
            ConvOutKernel = convOut,
            TimeEmbeddingDim = r.IntOrNull("time_embedding_dim"),
            ContextMap = r.Bool(ContextMapKey, false),
            ContextMapShuffle = r.Int(ContextMapShuffleKey, 0),
        };
        CheckRanges(r, cfg);
        return cfg;
    }

    /// <summary>Features outside the SD-1.x family: rejected by name rather than silently ignored.</summary>
    static void RejectUnsupported(ConfigReader r)
    {
        string? cls = r.String("_class_name", null);
        if (cls != null && cls != "UNet2DConditionModel")
            throw r.Error("_class_name", $"= \"{cls}\" is not supported (expected UNet2DConditionModel)");
        foreach (var key in new[] { "class_embed_type", "num_class_embeds", "addition_embed_type", "encoder_hid_dim",
                     "encoder_hid_dim_type", "time_cond_proj_dim", "timestep_post_act", "time_embedding_act_fn",
                     "cross_attention_norm", "projection_class_embeddings_input_dim",
                         "reverse_transformer_layers_per_block",
                     "mid_block_only_cross_attention", "addition_time_embed_dim" })
            r.RequireNullOr(key);
        r.RequireNullOr("time_embedding_type", "positional");
        r.RequireNullOr("resnet_time_scale_shift", "default");
        r.RequireNullOr("act_fn", "silu", "swish");
        r.RequireNullOr("attention_type", "default");
        r.RequireNullOr("class_embeddings_concat", "false");
        r.RequireNullOr("resnet_skip_time_act", "false");
        r.RequireNullOr("dual_cross_attention", "false");
        if (r.IsList("only_cross_attention"))
        {
            if (r.RawList("only_cross_attention").Any(v => v != "false"))
                throw r.Error("only_cross_attention", "= true for some level is not supported");
        }
        else r.RequireNullOr("only_cross_attention", "false");
        if (r.Has("resnet_out_scale_factor") && r.Double("resnet_out_scale_factor", 1) != 1)
            throw r.Error("resnet_out_scale_factor", "other than 1.0 is not supported");
        if (r.IsList("cross_attention_dim")) throw r.Error("cross_attention_dim",
            "as a per-level list is not supported");
    }

    /// <summary>norm_num_groups, checked against every level's channels (and each level's heads against
    /// them).</summary>
    static int NormGroups(ConfigReader r, int[] channels, int[] heads)
    {
        if (r.IsExplicitNull("norm_num_groups")) throw r.Error("norm_num_groups",
            "= null (no output norm) is not supported");
        int groups = r.Int("norm_num_groups", 32);
        if (groups <= 0) throw r.Error("norm_num_groups",
            "must be positive (null, i.e. no output norm, is not supported)");
        foreach (var c in channels)
            if (c % groups != 0) throw r.Error("norm_num_groups",
                $"= {groups} does not divide block channel count {c}");
        for (int i = 0; i < channels.Length; i++)
        {
            if (heads[i] <= 0) throw r.Error("attention_head_dim", "must be positive");
            if (channels[i] % heads[i] != 0)
                throw r.Error("attention_head_dim",
                    $"= {heads[i]} heads do not divide the {channels[i]} channels of level {i}");
        }
        return groups;
    }

    static void CheckRanges(ConfigReader r, UNet2DConditionConfig cfg)
    {
        if (cfg.LayersPerBlock.Any(l => l < 1)) throw r.Error("layers_per_block", "must be at least 1");
        if (cfg.TransformerLayersPerBlock.Any(l => l < 1)) throw r.Error("transformer_layers_per_block",
            "must be at least 1");
        if (cfg.InChannels <= 0) throw r.Error("in_channels", "must be positive");
        if (cfg.OutChannels <= 0) throw r.Error("out_channels", "must be positive");
        if (cfg.CrossAttentionDim <= 0) throw r.Error("cross_attention_dim", "must be positive");
        if (cfg.ContextMapShuffle < 0 || cfg.ContextMapShuffle == 1 || (cfg.ContextMapShuffle > 1 && !cfg.ContextMap))
            throw r.Error(ContextMapShuffleKey, $"must be 0 or a factor of at least 2 with {ContextMapKey} true");
        if (cfg.BlockOutChannels[0] % 2 != 0) throw r.Error("block_out_channels",
            "first entry must be even (timestep embedding size)");
    }

    /// <summary>The diffusers <c>config.json</c> text for this configuration (what <c>save_config</c> would write for
    /// our fields).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["_class_name"] = "UNet2DConditionModel",
            ["_diffusers_version"] = "0.25.1",
            ["act_fn"] = "silu",
            ["attention_head_dim"] = NumAttentionHeads.Distinct().Count() == 1
                ? JsonValue.Create(NumAttentionHeads[0]) : new JsonArray(NumAttentionHeads.Select(h => (JsonNode)h)
                    .ToArray()),
            ["block_out_channels"] = new JsonArray(BlockOutChannels.Select(c => (JsonNode)c).ToArray()),
            ["center_input_sample"] = CenterInputSample,
            ["class_embed_type"] = null,
            ["conv_in_kernel"] = ConvInKernel,
            ["conv_out_kernel"] = ConvOutKernel,
            ["cross_attention_dim"] = CrossAttentionDim,
            ["down_block_types"] = new JsonArray(DownBlockTypes.Select(t => (JsonNode)t).ToArray()),
            ["downsample_padding"] = DownsamplePadding,
            ["flip_sin_to_cos"] = FlipSinToCos,
            ["freq_shift"] = FreqShift,
            ["in_channels"] = InChannels,
            ["layers_per_block"] = LayersPerBlock.Distinct().Count() == 1
                ? JsonValue.Create(LayersPerBlock[0]) : new JsonArray(LayersPerBlock.Select(h => (JsonNode)h)
                    .ToArray()),
            ["mid_block_scale_factor"] = MidBlockScaleFactor,
            ["mid_block_type"] = MidBlockType,
            ["norm_eps"] = NormEps,
            ["norm_num_groups"] = NormNumGroups,
            ["out_channels"] = OutChannels,
            ["sample_size"] = SampleSize,
            ["time_embedding_dim"] = TimeEmbeddingDim,
            ["transformer_layers_per_block"] = TransformerLayersPerBlock.Distinct().Count() == 1
                ? JsonValue.Create(TransformerLayersPerBlock[0]) : new JsonArray(
                    TransformerLayersPerBlock.Select(h => (JsonNode)h).ToArray()),
            ["up_block_types"] = new JsonArray(UpBlockTypes.Select(t => (JsonNode)t).ToArray()),
            ["upcast_attention"] = UpcastAttention,
            ["use_linear_projection"] = UseLinearProjection,
        };
        // Written only when on, so configs without it stay plain diffusers configs.
        if (ContextMap) o[ContextMapKey] = true;
        if (ContextMapShuffle > 0) o[ContextMapShuffleKey] = ContextMapShuffle;
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
