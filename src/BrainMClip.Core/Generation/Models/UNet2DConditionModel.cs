using BrainMClip.IO;
using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Models;

/// <summary>
/// diffusers <c>UNet2DConditionModel</c> (SD-1.x family, as in the Versatile Diffusion image UNet), built from its
/// <c>config.json</c>; parameter names are the diffusers state-dict keys. Any number of levels, per-level layers and
/// heads, non-square and odd-sized inputs.
/// </summary>
public sealed class UNet2DConditionModel : nn.Module
{
    readonly RoutedConv2d conv_in;
    readonly TimestepEmbedding time_embedding;
    readonly ModuleList<UNetDownBlock> down_blocks;
    readonly UNetMidBlock2DCrossAttn? mid_block;
    readonly ModuleList<UNetUpBlock> up_blocks;
    readonly GroupNorm conv_norm_out;
    readonly RoutedConv2d conv_out;
    readonly RoutedConv2d? context_map_in;

    public UNet2DConditionConfig Config { get; }

    public UNet2DConditionModel(UNet2DConditionConfig cfg) : base(nameof(UNet2DConditionModel))
    {
        Config = cfg;
        var ch = cfg.BlockOutChannels;
        int levels = ch.Length;
        long temb = cfg.TimeEmbedDim;
        conv_in = Layers.Conv(cfg.InChannels, ch[0], cfg.ConvInKernel, padding: (cfg.ConvInKernel - 1) / 2);
        time_embedding = new TimestepEmbedding(ch[0], temb);

        var downs = new List<UNetDownBlock>();
        long output = ch[0];
        for (int i = 0; i < levels; i++)
        {
            long input = output;
            output = ch[i];
            bool final = i == levels - 1;
            downs.Add(
                new UNetDownBlock(cfg.DownBlockTypes[i] == "CrossAttnDownBlock2D", input, output, temb,
                cfg.LayersPerBlock[i],
                cfg.TransformerLayersPerBlock[i], cfg.NumAttentionHeads[i], cfg.CrossAttentionDim, cfg,
                    addDownsample: !final));
        }
        down_blocks = new ModuleList<UNetDownBlock>(downs.ToArray());

        if (cfg.MidBlockType != null)
            mid_block = new UNetMidBlock2DCrossAttn(ch[^1], temb, cfg.TransformerLayersPerBlock[^1],
                cfg.NumAttentionHeads[^1],
                cfg.CrossAttentionDim, cfg);

        var rch = ch.Reverse().ToArray();
        var rheads = cfg.NumAttentionHeads.Reverse().ToArray();
        var rlayers = cfg.LayersPerBlock.Reverse().ToArray();
        var rtl = cfg.TransformerLayersPerBlock.Reverse().ToArray();
        var ups = new List<UNetUpBlock>();
        output = rch[0];
        for (int i = 0; i < levels; i++)
        {
            bool final = i == levels - 1;
            long prev = output;
            output = rch[i];
            long input = rch[Math.Min(i + 1, levels - 1)];
            ups.Add(
                new UNetUpBlock(cfg.UpBlockTypes[i] == "CrossAttnUpBlock2D", input, prev, output, temb, rlayers[i] + 1,
                rtl[i], rheads[i], cfg.CrossAttentionDim, cfg, addUpsample: !final));
        }
        up_blocks = new ModuleList<UNetUpBlock>(ups.ToArray());

        conv_norm_out = Layers.GroupNorm(cfg.NormNumGroups, ch[0], cfg.NormEps);
        conv_out = Layers.Conv(ch[0], cfg.OutChannels, cfg.ConvOutKernel, padding: (cfg.ConvOutKernel - 1) / 2);
        int sub = Math.Max(cfg.ContextMapShuffle, 1);
        if (cfg.ContextMap) context_map_in = Layers.Conv(cfg.CrossAttentionDim, ch[0] * sub * sub, 1);
        RegisterComponents();
    }

    /// <summary>Builds the UNet from a diffusers folder (config.json + diffusion_pytorch_model.safetensors or
    /// model.safetensors).</summary>
    public static UNet2DConditionModel FromPretrained(string folder, ScalarType dtype = ScalarType.Float32)
    {
        UserInputException.RequireDirectory(folder, "UNet folder");
        var reader = ConfigReader.Load(Path.Combine(folder, "config.json"));
        var cfg = UNet2DConditionConfig.From(reader);
        var weights = WeightLoader.FindWeights(folder);
        reader.RequireWeightsCanHold(MinParameters(cfg), weights,
            "block_out_channels, layers_per_block, transformer_layers_per_block, cross_attention_dim, in/out_channels");
        var unet = new UNet2DConditionModel(cfg);
        WeightLoader.Load(unet, weights);
        if (dtype != ScalarType.Float32) unet.to(dtype);
        unet.eval();
        return unet;
    }

    /// <summary>
    /// A lower bound on the parameter count: the 3×3 convolutions of every resnet (two per resnet, at least c² each),
    /// conv_in/conv_out, the time embedding, and the key/value projections from the cross-attention context at
    /// cross-attention levels.
    /// </summary>
    public static long MinParameters(UNet2DConditionConfig c)
    {
        long total = ConfigReader.Add(ConfigReader.Mul(9, (long)c.InChannels + c.OutChannels, c.BlockOutChannels[0]),
            ConfigReader.Mul(c.TimeEmbedDim, c.TimeEmbedDim)); // time_embedding.linear_2
        for (int i = 0; i < c.Levels; i++)
        {
            long ch = c.BlockOutChannels[i], layers = c.LayersPerBlock[i];
            total = ConfigReader.Add(total, ConfigReader.Mul(2 * layers + 1, 2 * 9, ch, ch));
            if (c.DownBlockTypes[i] == "CrossAttnDownBlock2D")
                total = ConfigReader.Add(total,
                    ConfigReader.Mul(layers, c.TransformerLayersPerBlock[i], 2, c.CrossAttentionDim, ch));
        }
        return total;
    }

    /// <summary>All attention modules (for slicing).</summary>
    public IEnumerable<Attention> Attentions =>
        down_blocks.SelectMany(b => b.Attentions)
            .Concat(mid_block?.Attentions ?? [])
            .Concat(up_blocks.SelectMany(b => b.Attentions));

    /// <summary>Computes attention in slices of <paramref name="sliceSize"/> (batch×head) rows; null turns slicing
    /// off.</summary>
    public void SetAttentionSlicing(int? sliceSize)
    {
        foreach (var a in Attentions) a.SliceSize = sliceSize;
    }

    /// <summary>
    /// Sinusoidal timestep embedding as diffusers' get_timestep_embedding (float32): exponent = −ln(10000)·i/(half −
    /// shift), [sin, cos] (or [cos, sin] with flip_sin_to_cos).
    /// </summary>
    public static Tensor TimestepFeatures(Tensor timesteps, long dim, bool flipSinToCos, double freqShift)
    {
        using var scope = NewDisposeScope();
        long half = dim / 2;
        var exponent = arange(0, half, dtype: ScalarType.Float32) * (float)(-Math.Log(10000.0));
        exponent = exponent / (float)(half - freqShift);
        var freqs = exponent.exp();
        var emb = timesteps.to_type(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var sin = emb.sin();
        var cos = emb.cos();
        var result = flipSinToCos ? cat([cos, sin], -1) : cat([sin, cos], -1);
        if (dim % 2 == 1) result = nn.functional.pad(result, [0, 1, 0, 0]);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="UNet2DConditionConfig.ContextMap"/>: tokens 1..T−1 as a (B, D, g, g) grid (g² = T − 1, row-major as
    /// a ViT lays out its patches), projected by <c>context_map_in</c>, pixel-shuffled when
    /// <see cref="UNet2DConditionConfig.ContextMapShuffle"/> is set, and resized bilinearly to (H, W) if it still
    /// differs.
    /// </summary>
    public Tensor ContextMapOf(Tensor ctx, long height, long width)
    {
        long patches = ctx.shape[1] - 1, g = (long)Math.Round(Math.Sqrt(Math.Max(patches, 0)));
        if (patches < 1 || g * g != patches)
            throw new UserInputException(
                $"unet: {UNet2DConditionConfig.ContextMapKey} needs a class token plus a square grid of patch " +
                $"tokens, got {ctx.shape[1]} tokens");
        var grid = ctx.narrow(1, 1, patches).transpose(1, 2).reshape(ctx.shape[0], ctx.shape[2], g, g);
        var map = context_map_in!.forward(grid);
        if (Config.ContextMapShuffle > 1) map = nn.functional.pixel_shuffle(map, Config.ContextMapShuffle);
        if (map.shape[2] == height && map.shape[3] == width) return map;
        return nn.functional.interpolate(map, size: [height, width], mode: InterpolationMode.Bilinear,
            align_corners: false);
    }

    /// <param name="sample">(B, in_channels, H, W).</param>
    /// <param name="timestep">A scalar, a [1] tensor or one timestep per batch row.</param>
    /// <param name="context">(B, T, cross_attention_dim) encoder hidden states.</param>
    /// <returns>(B, out_channels, H, W) model output (epsilon / v / sample, per the scheduler's prediction
    /// type).</returns>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor context)
    {
        if (sample.dim() != 4 || sample.shape[1] != Config.InChannels)
            throw new UserInputException(
                $"unet: sample must be (B, {Config.InChannels}, H, W), got {Layers.Shape(sample)}");
        if (context.dim() != 3 || context.shape[0] != sample.shape[0] || context.shape[2] != Config.CrossAttentionDim)
            throw new UserInputException(
                $"unet: encoder_hidden_states must be ({sample.shape[0]}, T, {Config.CrossAttentionDim}), got " +
                    $"{Layers.Shape(context)}");
        using var scope = NewDisposeScope();
        long b = sample.shape[0];
        // One timestep for the whole batch (sampling): its embedding is computed once, as one row, and broadcast in
        // the resnet blocks. Besides saving the work, this keeps every sample's result independent of the batch size:
        // MKL's GEMM for a few rows rounds differently for 2 and 8 rows (measured), which would make
        // `reconstruct --batch K` differ from K = 1 in the last bits.
        var t = timestep.flatten();
        if (t.numel() != 1 && t.numel() != b)
            throw new UserInputException($"unet: {t.numel()} timesteps for a batch of {b}");
        var dtype = conv_in.weight!.dtype;
        var x = sample.to_type(dtype);
        if (Config.CenterInputSample) x = x * 2.0 - 1.0;
        var tFeat = TimestepFeatures(t, Config.BlockOutChannels[0], Config.FlipSinToCos,
            Config.FreqShift).to_type(dtype);
        var emb = time_embedding.forward(tFeat);
        var ctx = context.to_type(dtype);

        var h = conv_in.forward(x);
        if (context_map_in != null) h = h + ContextMapOf(ctx, h.shape[2], h.shape[3]);
        var skips = new List<Tensor> { h };
        foreach (var block in down_blocks) h = block.Forward(h, emb, ctx, skips);
        if (mid_block != null) h = mid_block.Forward(h, emb, ctx);
        foreach (var block in up_blocks)
        {
            int n = block.Layers;
            var mine = new List<Tensor>();
            for (int i = 0; i < n; i++) { mine.Add(skips[^1]); skips.RemoveAt(skips.Count - 1); }
            // Upsample to the size of the next skip: exactly 2× for even sizes, and what diffusers'
            // forward_upsample_size does otherwise.
            long[]? size = skips.Count > 0 ? [skips[^1].shape[2], skips[^1].shape[3]] : null;
            h = block.Forward(h, emb, ctx, mine, size);
        }
        h = conv_out.forward(nn.functional.silu(conv_norm_out.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}
