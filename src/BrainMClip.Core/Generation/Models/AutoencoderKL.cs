using System.Text.RegularExpressions;
using BrainMClip.IO;
using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Models;

/// <summary>The fields of a diffusers <c>AutoencoderKL</c> <c>config.json</c>.</summary>
public sealed record AutoencoderKLConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int[] BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 1;
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    public double ScalingFactor { get; init; } = 0.18215;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Image pixels per latent pixel along each axis (2^(levels−1)).</summary>
    public int SpatialFactor => 1 << (BlockOutChannels.Length - 1);

    public static AutoencoderKLConfig Load(string path)
    {
        var r = ConfigReader.Load(path);
        var d = new AutoencoderKLConfig(); // absent keys take the record's defaults (diffusers' own)
        string? cls = r.String("_class_name", null);
        if (cls != null && cls != "AutoencoderKL")
            throw r.Error("_class_name", $"= \"{cls}\" is not supported (expected AutoencoderKL)");
        var ch = r.Ints("block_out_channels", d.BlockOutChannels);
        if (ch.Length == 0 || ch.Any(c => c <= 0)) throw r.Error("block_out_channels",
            "must be a non-empty list of positive integers");
        var down = r.Strings("down_block_types", Enumerable.Repeat("DownEncoderBlock2D", ch.Length).ToArray());
        var up = r.Strings("up_block_types", Enumerable.Repeat("UpDecoderBlock2D", ch.Length).ToArray());
        if (down.Length != ch.Length) throw r.Error("down_block_types",
            $"has {down.Length} entries but block_out_channels has {ch.Length}");
        if (up.Length != ch.Length) throw r.Error("up_block_types",
            $"has {up.Length} entries but block_out_channels has {ch.Length}");
        if (down.Any(t => t != "DownEncoderBlock2D"))
            throw r.Error("down_block_types",
                $"contains \"{down.First(t => t != "DownEncoderBlock2D")}\" (supported: DownEncoderBlock2D)");
        if (up.Any(t => t != "UpDecoderBlock2D"))
            throw r.Error("up_block_types",
                $"contains \"{up.First(t => t != "UpDecoderBlock2D")}\" (supported: UpDecoderBlock2D)");
        r.RequireNullOr("act_fn", "silu", "swish");
        r.RequireNullOr("latents_mean");
        r.RequireNullOr("latents_std");
        r.RequireNullOr("shift_factor");
        r.RequireNullOr("use_quant_conv", "true");
        r.RequireNullOr("use_post_quant_conv", "true");
        var cfg = new AutoencoderKLConfig
        {
            InChannels = r.Int("in_channels", d.InChannels),
            OutChannels = r.Int("out_channels", d.OutChannels),
            BlockOutChannels = ch,
            LayersPerBlock = r.Int("layers_per_block", d.LayersPerBlock),
            LatentChannels = r.Int("latent_channels", d.LatentChannels),
            NormNumGroups = r.Int("norm_num_groups", d.NormNumGroups),
            ScalingFactor = r.Double("scaling_factor", d.ScalingFactor),
            MidBlockAddAttention = r.Bool("mid_block_add_attention", d.MidBlockAddAttention),
        };
        if (cfg.NormNumGroups < 1) throw r.Error("norm_num_groups", "must be positive");
        foreach (var c in ch)
            if (c % cfg.NormNumGroups != 0) throw r.Error("norm_num_groups",
                $"= {cfg.NormNumGroups} does not divide block channel count {c}");
        if (cfg.LayersPerBlock < 1) throw r.Error("layers_per_block", "must be at least 1");
        if (cfg.InChannels < 1) throw r.Error("in_channels", "must be positive");
        if (cfg.OutChannels < 1) throw r.Error("out_channels", "must be positive");
        if (cfg.LatentChannels < 1) throw r.Error("latent_channels", "must be positive");
        if (cfg.ScalingFactor <= 0) throw r.Error("scaling_factor", "must be positive");
        return cfg;
    }
}

/// <summary>diffusers UNetMidBlock2D of the VAE: resnet, single-head attention, resnet (no time embedding, eps
/// 1e-6).</summary>
public sealed class VaeMidBlock : nn.Module
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<SpatialSelfAttention>? attentions;

    public VaeMidBlock(long channels, long groups, bool addAttention) : base(nameof(VaeMidBlock))
    {
        resnets = new ModuleList<ResnetBlock2D>(new ResnetBlock2D(channels, channels, null, groups, 1e-6),
            new ResnetBlock2D(channels, channels, null, groups, 1e-6));
        if (addAttention) attentions = new ModuleList<SpatialSelfAttention>(
            new SpatialSelfAttention(channels, groups, 1e-6));
        RegisterComponents();
    }

    public Tensor Forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        h = resnets[0].Forward(h, null);
        if (attentions != null) h = attentions[0].Forward(h);
        h = resnets[1].Forward(h, null);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers DownEncoderBlock2D and UpDecoderBlock2D: time-free resnets (eps 1e-6), the first changing the channel
/// count, then an optional downsampler (with the (0,1,0,1) pad) or nearest-2× upsampler. One class, as the two differ
/// only in the resampler, whose field name is its state-dict key.
/// </summary>
public sealed class VaeBlock2D : nn.Module
{
    public enum Resampler { None, Down, Up }

    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Downsample2D>? downsamplers;
    readonly ModuleList<Upsample2D>? upsamplers;

    public VaeBlock2D(long inChannels, long outChannels, int layers, long groups, Resampler resampler)
        : base(resampler == Resampler.Up ? "UpDecoderBlock2D" : "DownEncoderBlock2D")
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6))
            .ToArray());
        if (resampler == Resampler.Down)
            downsamplers = new ModuleList<Downsample2D>(new Downsample2D(outChannels, padding: 0));
        if (resampler == Resampler.Up) upsamplers = new ModuleList<Upsample2D>(new Upsample2D(outChannels));
        RegisterComponents();
    }

    /// <summary>One block per level: level i maps the previous level's channels (level 0: its own) to
    /// channels[i]; every level but the last resamples.</summary>
    public static VaeBlock2D[] Levels(int[] channels, int layers, long groups, Resampler resampler) =>
        channels.Select((c, i) => new VaeBlock2D(channels[Math.Max(i - 1, 0)], c, layers, groups,
            i != channels.Length - 1 ? resampler : Resampler.None)).ToArray();

    /// <param name="consumeInput">The caller hands <paramref name="h"/> over, so it may be freed inside.</param>
    public Tensor Forward(Tensor h, bool consumeInput = false)
    {
        using var scope = NewDisposeScope();
        // Each stage's input is freed once it is no longer needed (the block's own input only when handed over): at
        // 512² these are 134–268 MB each.
        var keep = consumeInput ? null : h;
        foreach (var r in resnets) h = Replace(h, r.Forward(h, null, !ReferenceEquals(h, keep)), keep);
        if (downsamplers != null) h = Replace(h, downsamplers[0].Forward(h), keep);
        if (upsamplers != null) h = Replace(h, upsamplers[0].Forward(h, consumeInput: !ReferenceEquals(h, keep)), keep);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Frees <paramref name="old"/> (unless it is the caller's <paramref name="keep"/>; disposing an already
    /// consumed tensor again is a no-op) and returns <paramref name="next"/>.</summary>
    static Tensor Replace(Tensor old, Tensor next, Tensor? keep)
    {
        if (!ReferenceEquals(old, keep)) old.Dispose();
        return next;
    }
}

/// <summary>The VAE encoder: conv_in → down blocks → mid → GroupNorm → SiLU → conv_out (2×latent channels).</summary>
public sealed class VaeEncoder : nn.Module
{
    readonly RoutedConv2d conv_in;
    readonly ModuleList<VaeBlock2D> down_blocks;
    readonly VaeMidBlock mid_block;
    readonly GroupNorm conv_norm_out;
    readonly RoutedConv2d conv_out;

    public VaeEncoder(AutoencoderKLConfig cfg) : base(nameof(VaeEncoder))
    {
        var ch = cfg.BlockOutChannels;
        conv_in = Layers.Conv(cfg.InChannels, ch[0], 3, padding: 1);
        down_blocks = new ModuleList<VaeBlock2D>(
            VaeBlock2D.Levels(ch, cfg.LayersPerBlock, cfg.NormNumGroups, VaeBlock2D.Resampler.Down));
        mid_block = new VaeMidBlock(ch[^1], cfg.NormNumGroups, cfg.MidBlockAddAttention);
        conv_norm_out = Layers.GroupNorm(cfg.NormNumGroups, ch[^1], 1e-6);
        conv_out = Layers.Conv(ch[^1], 2 * cfg.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var b in down_blocks) h = b.Forward(h);
        h = mid_block.Forward(h);
        h = conv_out.forward(nn.functional.silu(conv_norm_out.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>The VAE decoder: conv_in → mid → up blocks → GroupNorm → SiLU → conv_out.</summary>
public sealed class VaeDecoder : nn.Module
{
    readonly RoutedConv2d conv_in;
    readonly VaeMidBlock mid_block;
    readonly ModuleList<VaeBlock2D> up_blocks;
    readonly GroupNorm conv_norm_out;
    readonly RoutedConv2d conv_out;

    public VaeDecoder(AutoencoderKLConfig cfg) : base(nameof(VaeDecoder))
    {
        var rch = cfg.BlockOutChannels.Reverse().ToArray();
        conv_in = Layers.Conv(cfg.LatentChannels, rch[0], 3, padding: 1);
        mid_block = new VaeMidBlock(rch[0], cfg.NormNumGroups, cfg.MidBlockAddAttention);
        up_blocks = new ModuleList<VaeBlock2D>(
            VaeBlock2D.Levels(rch, cfg.LayersPerBlock + 1, cfg.NormNumGroups, VaeBlock2D.Resampler.Up));
        conv_norm_out = Layers.GroupNorm(cfg.NormNumGroups, cfg.BlockOutChannels[0], 1e-6);
        conv_out = Layers.Conv(cfg.BlockOutChannels[0], cfg.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public Tensor Forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(z);
        h = Next(h, mid_block.Forward(h));
        foreach (var b in up_blocks) h = Next(h, b.Forward(h, consumeInput: true));
        var n = Next(h, conv_norm_out.forward(h));
        var a = is_grad_enabled() ? Next(n, nn.functional.silu(n)) : n.silu_();
        return Next(a, conv_out.forward(a)).MoveToOuterDisposeScope();
    }

    /// <summary>Frees a stage's input as soon as its output exists (see <see cref="ResnetBlock2D.Forward"/>).</summary>
    static Tensor Next(Tensor old, Tensor next)
    {
        old.Dispose();
        return next;
    }
}

/// <summary>
/// diffusers <c>AutoencoderKL</c>: encoder + quant_conv (→ mean | logvar, logvar clamped to [−30, 20]) and
/// post_quant_conv + decoder. <see cref="Decode"/> takes latents already divided by the scaling factor.
/// </summary>
public sealed class AutoencoderKL : nn.Module
{
    readonly VaeEncoder? encoder;
    readonly VaeDecoder decoder;
    readonly RoutedConv2d? quant_conv;
    readonly RoutedConv2d post_quant_conv;

    public AutoencoderKLConfig Config { get; }

    /// <summary>True when built without the encoder half (<see cref="Encode"/> unavailable).</summary>
    public bool DecoderOnly => encoder == null;

    /// <param name="decoderOnly">Build only post_quant_conv + decoder: reconstruction never encodes, and the
    /// encoder's weights (~130 MB at the SD/VD shape) would only take memory.</param>
    public AutoencoderKL(AutoencoderKLConfig cfg, bool decoderOnly = false) : base(nameof(AutoencoderKL))
    {
        Config = cfg;
        if (!decoderOnly)
        {
            encoder = new VaeEncoder(cfg);
            quant_conv = Layers.Conv(2 * cfg.LatentChannels, 2 * cfg.LatentChannels, 1);
        }
        decoder = new VaeDecoder(cfg);
        post_quant_conv = Layers.Conv(cfg.LatentChannels, cfg.LatentChannels, 1);
        RegisterComponents();
    }

    /// <summary>Returns the latent distribution's (mean, logvar), without the scaling factor.</summary>
    public (Tensor Mean, Tensor LogVar) Encode(Tensor image)
    {
        if (image.dim() != 4 || image.shape[1] != Config.InChannels)
            throw new UserInputException(
                $"vae: image must be (B, {Config.InChannels}, H, W), got {Layers.Shape(image)}");
        if (encoder == null || quant_conv == null)
            throw new InvalidOperationException("vae: built decoder-only; load it with decoderOnly: false to encode");
        using var scope = NewDisposeScope();
        var dtype = quant_conv.weight!.dtype;
        var moments = quant_conv.forward(encoder.Forward(image.to_type(dtype)));
        var parts = moments.chunk(2, 1);
        var mean = parts[0].contiguous();
        var logvar = parts[1].clamp(-30.0, 20.0);
        return (mean.MoveToOuterDisposeScope(), logvar.MoveToOuterDisposeScope());
    }

    /// <summary>Decodes latents (already divided by the scaling factor) to an image in about [−1, 1]
    /// (unclamped).</summary>
    public Tensor Decode(Tensor latents)
    {
        if (latents.dim() != 4 || latents.shape[1] != Config.LatentChannels)
            throw new UserInputException(
                $"vae: latents must be (B, {Config.LatentChannels}, h, w), got {Layers.Shape(latents)}");
        using var scope = NewDisposeScope();
        var dtype = post_quant_conv.weight!.dtype;
        return decoder.Forward(post_quant_conv.forward(latents.to_type(dtype))).MoveToOuterDisposeScope();
    }

    static readonly Regex LegacyAttention = new(
        @"^(encoder|decoder)\.mid_block\.attentions\.0\.(query|key|value|proj_attn)\.(weight|bias)$");

    /// <summary>Maps the legacy SD-1.x attention names (query/key/value/proj_attn) to to_q/to_k/to_v/to_out.0, as
    /// diffusers does on load.</summary>
    public static string RenameLegacyKey(string key)
    {
        var m = LegacyAttention.Match(key);
        if (!m.Success) return key;
        string name = m.Groups[2].Value switch
        { "query" => "to_q", "key" => "to_k", "value" => "to_v", _ => "to_out.0" };
        return $"{m.Groups[1].Value}.mid_block.attentions.0.{name}.{m.Groups[3].Value}";
    }

    /// <summary>Old checkpoints stored the attention projections as 1×1 convs ([C, C, 1, 1]); the linear layers want
    /// [C, C].</summary>
    static Tensor ReshapeAttentionWeight(string key, Tensor t) =>
        key.Contains(".mid_block.attentions.") && key.EndsWith(".weight") && t.dim() == 4 && t.shape[2] == 1
            && t.shape[3] == 1
            ? t.reshape(t.shape[0], t.shape[1])
            : t;

    static bool IsEncoderKey(string key) =>
        key.StartsWith("encoder.", StringComparison.Ordinal) || key.StartsWith("quant_conv.", StringComparison.Ordinal);

    /// <summary>Builds the VAE from a diffusers folder (config.json + weights); with <paramref name="decoderOnly"/>
    /// the encoder's weights are checked to be absent from the model only, not read.</summary>
    public static AutoencoderKL FromPretrained(string folder, ScalarType dtype = ScalarType.Float32,
        bool decoderOnly = false)
    {
        UserInputException.RequireDirectory(folder, "VAE folder");
        string configPath = Path.Combine(folder, "config.json");
        var cfg = AutoencoderKLConfig.Load(configPath);
        var weights = WeightLoader.FindWeights(folder);
        // Lower bound on parameters: two 3×3 convs per resnet (encoder: layers, decoder: layers + 1 per level) and
        // the conv_in/conv_out layers; checked before allocating so a corrupt channel count fails cleanly.
        long min = ConfigReader.Mul(9, (long)cfg.InChannels + cfg.OutChannels, cfg.BlockOutChannels[0]);
        foreach (var ch in cfg.BlockOutChannels)
            min = ConfigReader.Add(min, ConfigReader.Mul(2L * cfg.LayersPerBlock + 1, 2 * 9, ch, ch));
        min = ConfigReader.Add(min, ConfigReader.Mul(9, 2L * cfg.LatentChannels, cfg.BlockOutChannels[^1]));
        ConfigReader.Load(configPath)
            .RequireWeightsCanHold(min, weights,
            "block_out_channels, layers_per_block, in/out_channels, latent_channels");
        var vae = new AutoencoderKL(cfg, decoderOnly);
        WeightLoader.Load(vae, weights, RenameLegacyKey, ReshapeAttentionWeight,
            decoderOnly ? IsEncoderKey : null);
        if (dtype != ScalarType.Float32) vae.to(dtype);
        vae.eval();
        return vae;
    }
}
