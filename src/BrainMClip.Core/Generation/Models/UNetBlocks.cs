using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Models;

/// <summary>
/// diffusers CrossAttnDownBlock2D (with <c>attentions</c>) or DownBlock2D (without): resnets, optional transformers,
/// optional stride-2 downsampler. Returns the output and every skip it pushes.
/// </summary>
public sealed class UNetDownBlock : nn.Module
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Transformer2DModel>? attentions;
    readonly ModuleList<Downsample2D>? downsamplers;

    public UNetDownBlock(bool crossAttention, long inChannels, long outChannels, long tembChannels, int layers,
        int transformerLayers, long heads, long crossAttentionDim, UNet2DConditionConfig cfg, bool addDownsample)
        : base(nameof(UNetDownBlock))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers)
            .Select(i =>
                new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels, cfg.NormNumGroups,
                cfg.NormEps))
            .ToArray());
        if (crossAttention)
            attentions = new ModuleList<Transformer2DModel>(Enumerable.Range(0, layers)
                .Select(_ =>
                    new Transformer2DModel(outChannels, heads, crossAttentionDim, transformerLayers, cfg.NormNumGroups,
                    cfg.UseLinearProjection, cfg.UpcastAttention))
                .ToArray());
        if (addDownsample) downsamplers = new ModuleList<Downsample2D>(
            new Downsample2D(outChannels, cfg.DownsamplePadding));
        RegisterComponents();
    }

    public IEnumerable<Attention> Attentions => attentions?.SelectMany(a => a.Attentions) ?? [];

    public Tensor Forward(Tensor h, Tensor temb, Tensor context, List<Tensor> skips)
    {
        for (int i = 0; i < resnets.Count; i++)
        {
            var next = resnets[i].Forward(h, temb);
            if (attentions != null)
            {
                var t = attentions[i].Forward(next, context);
                next.Dispose();
                next = t;
            }
            skips.Add(next);
            h = next;
        }
        if (downsamplers != null)
        {
            h = downsamplers[0].Forward(h);
            skips.Add(h);
        }
        return h;
    }
}

/// <summary>diffusers UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) per layer.</summary>
public sealed class UNetMidBlock2DCrossAttn : nn.Module
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Transformer2DModel> attentions;

    public UNetMidBlock2DCrossAttn(long channels, long tembChannels, int transformerLayers, long heads,
        long crossAttentionDim, UNet2DConditionConfig cfg, int layers = 1) : base(nameof(UNetMidBlock2DCrossAttn))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers + 1)
            .Select(_ =>
                new ResnetBlock2D(channels, channels, tembChannels, cfg.NormNumGroups, cfg.NormEps,
                cfg.MidBlockScaleFactor))
            .ToArray());
        attentions = new ModuleList<Transformer2DModel>(Enumerable.Range(0, layers)
            .Select(_ =>
                new Transformer2DModel(channels, heads, crossAttentionDim, transformerLayers, cfg.NormNumGroups,
                cfg.UseLinearProjection, cfg.UpcastAttention))
            .ToArray());
        RegisterComponents();
    }

    public IEnumerable<Attention> Attentions => attentions.SelectMany(a => a.Attentions);

    public Tensor Forward(Tensor h, Tensor temb, Tensor context)
    {
        using var scope = NewDisposeScope();
        h = resnets[0].Forward(h, temb);
        for (int i = 0; i < attentions.Count; i++)
        {
            h = attentions[i].Forward(h, context);
            h = resnets[i + 1].Forward(h, temb);
        }
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers CrossAttnUpBlock2D / UpBlock2D: <c>layers</c> resnets on cat([h, skip]) (h first), optional transformers,
/// optional nearest-2× upsampler.
/// </summary>
public sealed class UNetUpBlock : nn.Module
{
    readonly ModuleList<ResnetBlock2D> resnets;
    readonly ModuleList<Transformer2DModel>? attentions;
    readonly ModuleList<Upsample2D>? upsamplers;

    public UNetUpBlock(bool crossAttention, long inChannels, long prevOutputChannels, long outChannels,
        long tembChannels,
        int layers, int transformerLayers, long heads, long crossAttentionDim, UNet2DConditionConfig cfg,
            bool addUpsample)
        : base(nameof(UNetUpBlock))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, layers).Select(i =>
        {
            long skipChannels = i == layers - 1 ? inChannels : outChannels;
            long resIn = i == 0 ? prevOutputChannels : outChannels;
            return new ResnetBlock2D(resIn + skipChannels, outChannels, tembChannels, cfg.NormNumGroups, cfg.NormEps);
        }).ToArray());
        if (crossAttention)
            attentions = new ModuleList<Transformer2DModel>(Enumerable.Range(0, layers)
                .Select(_ =>
                    new Transformer2DModel(outChannels, heads, crossAttentionDim, transformerLayers, cfg.NormNumGroups,
                    cfg.UseLinearProjection, cfg.UpcastAttention))
                .ToArray());
        if (addUpsample) upsamplers = new ModuleList<Upsample2D>(new Upsample2D(outChannels));
        RegisterComponents();
    }

    public int Layers => resnets.Count;

    public IEnumerable<Attention> Attentions => attentions?.SelectMany(a => a.Attentions) ?? [];

    /// <param name="skips">The skips of this block, in the order they are consumed (last pushed first).</param>
    /// <param name="upsampleSize">Spatial size of the next skip (handles odd sizes like diffusers'
    /// forward_upsample_size).</param>
    public Tensor Forward(Tensor h, Tensor temb, Tensor context, IReadOnlyList<Tensor> skips, long[]? upsampleSize)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < resnets.Count; i++)
        {
            h = resnets[i].Forward(cat([h, skips[i]], 1), temb);
            if (attentions != null) h = attentions[i].Forward(h, context);
        }
        if (upsamplers != null) h = upsamplers[0].Forward(h, upsampleSize);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers TimestepEmbedding: linear_1 → SiLU → linear_2.</summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    readonly Linear linear_1, linear_2;

    public TimestepEmbedding(long inChannels, long embedDim) : base(nameof(TimestepEmbedding))
    {
        linear_1 = nn.Linear(inChannels, embedDim);
        linear_2 = nn.Linear(embedDim, embedDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return linear_2.forward(nn.functional.silu(linear_1.forward(x))).MoveToOuterDisposeScope();
    }
}
