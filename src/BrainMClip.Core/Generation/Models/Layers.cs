using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

// Building blocks of the diffusers UNet and VAE. Field names are the diffusers state-dict keys (TorchSharp registers
// fields by name), so a diffusers checkpoint loads key for key.

internal static class Layers
{
    /// <summary>GroupNorm with weight 1 / bias 0: TorchSharp 0.107 leaves GroupNorm parameters uninitialised.</summary>
    public static GroupNorm GroupNorm(long groups, long channels, double eps)
    {
        var g = nn.GroupNorm(groups, channels, eps, affine: true);
        using (no_grad())
        {
            g.weight!.fill_(1.0);
            g.bias!.zero_();
        }
        return g;
    }

    /// <summary>nn.Conv2d's keys and initialisation, computed along the process's checked route (issue 12).</summary>
    public static RoutedConv2d Conv(long cin, long cout, long k, long stride = 1, long padding = 0) =>
        new(cin, cout, k, stride: stride, padding: padding);

    public static string Shape(Tensor t) => "[" + string.Join(",", t.shape) + "]";
}

/// <summary>diffusers ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1 unless given).</summary>
public sealed class ResnetBlock2D : nn.Module
{
    readonly GroupNorm norm1;
    readonly RoutedConv2d conv1;
    readonly Linear? time_emb_proj;
    readonly GroupNorm norm2;
    readonly RoutedConv2d conv2;
    readonly RoutedConv2d? conv_shortcut;
    readonly double _outputScale;

    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, long groups, double eps, double outputScale = 1.0)
        : base(nameof(ResnetBlock2D))
    {
        norm1 = Layers.GroupNorm(groups, inChannels, eps);
        conv1 = Layers.Conv(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is { } tc) time_emb_proj = nn.Linear(tc, outChannels);
        norm2 = Layers.GroupNorm(groups, outChannels, eps);
        conv2 = Layers.Conv(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = Layers.Conv(inChannels, outChannels, 1);
        _outputScale = outputScale;
        RegisterComponents();
    }

    public Tensor Forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(F.silu(norm1.forward(input)));
        if (time_emb_proj != null && temb is not null)
            h = h + time_emb_proj.forward(F.silu(temb)).unsqueeze(-1).unsqueeze(-1);
        h = conv2.forward(F.silu(norm2.forward(h)));
        var shortcut = conv_shortcut != null ? conv_shortcut.forward(input) : input;
        var output = shortcut + h;
        if (_outputScale != 1.0) output = output / _outputScale;
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers Downsample2D with use_conv: stride-2 3×3 conv; padding 0 means the (0,1,0,1) pad of the VAE encoder.</summary>
public sealed class Downsample2D : nn.Module
{
    readonly RoutedConv2d conv;
    readonly long _padding;

    public Downsample2D(long channels, long padding) : base(nameof(Downsample2D))
    {
        _padding = padding;
        conv = Layers.Conv(channels, channels, 3, stride: 2, padding: padding);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        if (_padding != 0) return conv.forward(x);
        using var padded = F.pad(x, [0, 1, 0, 1], PaddingModes.Constant, 0);
        return conv.forward(padded);
    }
}

/// <summary>diffusers Upsample2D with use_conv: nearest 2× (or to an explicit size) then a 3×3 conv.</summary>
public sealed class Upsample2D : nn.Module
{
    readonly RoutedConv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = Layers.Conv(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="size">Target (H, W); null = exactly 2×.</param>
    public Tensor Forward(Tensor x, long[]? size = null)
    {
        using var scope = NewDisposeScope();
        var dtype = x.dtype;
        // Nearest interpolation has no bfloat16 kernel in some libtorch builds; diffusers upcasts the same way.
        var src = dtype == ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
        size ??= [x.shape[2] * 2, x.shape[3] * 2];
        var up = F.interpolate(src, size: size, mode: InterpolationMode.Nearest);
        if (up.dtype != dtype) up = up.to_type(dtype);
        return conv.forward(up).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers Attention with AttnProcessor semantics: softmax(QKᵀ·d^-0.5)V per head, <c>to_q/to_k/to_v</c> (bias optional),
/// <c>to_out.0</c>. Optional slicing over (batch×heads) bounds the size of the score matrix.
/// </summary>
public sealed class Attention : nn.Module
{
    readonly Linear to_q, to_k, to_v;
    readonly ModuleList<Linear> to_out;
    readonly long _heads, _headDim;
    readonly double _scale;
    readonly bool _upcast;

    /// <summary>Number of (batch×head) slices computed at once; null = all at once.</summary>
    public int? SliceSize { get; set; }

    public Attention(long queryDim, long? crossAttentionDim, long heads, long headDim, bool qkvBias, bool upcast)
        : base(nameof(Attention))
    {
        long inner = heads * headDim;
        long kvDim = crossAttentionDim ?? queryDim;
        to_q = nn.Linear(queryDim, inner, hasBias: qkvBias);
        to_k = nn.Linear(kvDim, inner, hasBias: qkvBias);
        to_v = nn.Linear(kvDim, inner, hasBias: qkvBias);
        to_out = new ModuleList<Linear>(nn.Linear(inner, queryDim, hasBias: true));
        _heads = heads; _headDim = headDim;
        _scale = Math.Pow(headDim, -0.5);
        _upcast = upcast;
        RegisterComponents();
    }

    /// <param name="x">(B, N, C) queries.</param>
    /// <param name="context">(B, M, Cc) keys/values; null = self-attention.</param>
    public Tensor Forward(Tensor x, Tensor? context)
    {
        using var scope = NewDisposeScope();
        var ctx = context ?? x;
        long b = x.shape[0], n = x.shape[1], m = ctx.shape[1];
        if (ctx.shape[0] != b)
            throw new UserInputException($"attention: context batch {ctx.shape[0]} does not match the sample batch {b}");
        if (ctx.shape[2] != to_k.in_features)
            throw new UserInputException($"attention: context width {ctx.shape[2]} does not match the model's cross_attention_dim {to_k.in_features}");
        long bh = b * _heads;
        int slice = SliceSize is { } s && s > 0 && s < bh ? s : (int)bh;
        var qp = to_q.forward(x);
        if (slice == bh && qp.dtype == ScalarType.Float32)
        {
            // Fused attention on (B, h, N, d) views: libtorch's CPU flash kernel never materialises the (B·h, N, M) scores
            // and needs no head-split copies; ~2× faster than bmm/softmax/bmm forward and backward at 256 tokens. Its
            // default scale is d^-0.5 and it accumulates in float32, so upcast_attention changes nothing for float32.
            var o4 = nn.functional.scaled_dot_product_attention(SplitHeads(qp, b, n), SplitHeads(to_k.forward(ctx), b, m),
                SplitHeads(to_v.forward(ctx), b, m));
            return to_out[0].forward(o4.transpose(1, 2).reshape(b, n, _heads * _headDim)).MoveToOuterDisposeScope();
        }
        var q = HeadsToBatch(qp, b, n);
        var k = HeadsToBatch(to_k.forward(ctx), b, m);
        var v = HeadsToBatch(to_v.forward(ctx), b, m);
        Tensor o;
        if (slice == bh) o = Attend(q, k, v);
        else
        {
            var parts = new List<Tensor>();
            for (long i = 0; i < bh; i += slice)
            {
                long len = Math.Min(slice, bh - i);
                using var inner = NewDisposeScope();
                parts.Add(Attend(q.narrow(0, i, len), k.narrow(0, i, len), v.narrow(0, i, len)).MoveToOuterDisposeScope());
            }
            o = cat(parts, 0);
        }
        // (B·h, N, d) → (B, N, h·d)
        o = o.view(b, _heads, n, _headDim).permute(0, 2, 1, 3).reshape(b, n, _heads * _headDim);
        return to_out[0].forward(o).MoveToOuterDisposeScope();
    }

    /// <summary>(B, L, h·d) → (B, h, L, d) view.</summary>
    Tensor SplitHeads(Tensor t, long b, long len) => t.view(b, len, _heads, _headDim).transpose(1, 2);

    Tensor HeadsToBatch(Tensor t, long b, long len) =>
        t.view(b, len, _heads, _headDim).permute(0, 2, 1, 3).reshape(b * _heads, len, _headDim);

    Tensor Attend(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        var dtype = q.dtype;
        bool up = _upcast || dtype is ScalarType.Float16 or ScalarType.BFloat16;
        var qq = up ? q.to_type(ScalarType.Float32) : q;
        var kk = up ? k.to_type(ScalarType.Float32) : k;
        var scores = bmm(qq, kk.transpose(1, 2)).mul_(_scale);
        var probs = scores.softmax(-1);
        if (probs.dtype != dtype) probs = probs.to_type(dtype);
        return bmm(probs, v).MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers GEGLU: <c>proj</c> to 2×inner, hidden · gelu(gate) with exact (erf) GELU.</summary>
public sealed class GEGLU : nn.Module<Tensor, Tensor>
{
    readonly Linear proj;

    public GEGLU(long dimIn, long dimOut) : base(nameof(GEGLU))
    {
        proj = nn.Linear(dimIn, dimOut * 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var parts = proj.forward(x).chunk(2, -1);
        return (parts[0] * F.gelu(parts[1])).MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers FeedForward with GEGLU: <c>net.0</c> = GEGLU, <c>net.1</c> = dropout, <c>net.2</c> = Linear.</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    readonly ModuleList<nn.Module<Tensor, Tensor>> net;

    public FeedForward(long dim, long mult = 4) : base(nameof(FeedForward))
    {
        long inner = dim * mult;
        net = new ModuleList<nn.Module<Tensor, Tensor>>(new GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return net[2].forward(net[0].forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers BasicTransformerBlock (layer norm variant): self-attention, cross-attention, GEGLU feed-forward.</summary>
public sealed class BasicTransformerBlock : nn.Module
{
    readonly LayerNorm norm1, norm2, norm3;
    readonly Attention attn1, attn2;
    readonly FeedForward ff;

    public BasicTransformerBlock(long dim, long heads, long headDim, long crossAttentionDim, bool upcast)
        : base(nameof(BasicTransformerBlock))
    {
        norm1 = nn.LayerNorm(dim, 1e-5);
        attn1 = new Attention(dim, null, heads, headDim, qkvBias: false, upcast);
        norm2 = nn.LayerNorm(dim, 1e-5);
        attn2 = new Attention(dim, crossAttentionDim, heads, headDim, qkvBias: false, upcast);
        norm3 = nn.LayerNorm(dim, 1e-5);
        ff = new FeedForward(dim);
        RegisterComponents();
    }

    public IEnumerable<Attention> Attentions => [attn1, attn2];

    public Tensor Forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        x = attn1.Forward(norm1.forward(x), null) + x;
        x = attn2.Forward(norm2.forward(x), context) + x;
        x = ff.forward(norm3.forward(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>diffusers Transformer2DModel for continuous inputs: GroupNorm (eps 1e-6) → proj_in → blocks → proj_out → + input.</summary>
public sealed class Transformer2DModel : nn.Module
{
    readonly GroupNorm norm;
    readonly nn.Module<Tensor, Tensor> proj_in;
    readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    readonly nn.Module<Tensor, Tensor> proj_out;
    readonly bool _linear;
    readonly long _inner;

    public Transformer2DModel(long channels, long heads, long crossAttentionDim, long layers, long groups,
        bool useLinearProjection, bool upcast) : base(nameof(Transformer2DModel))
    {
        long headDim = channels / heads;
        _inner = heads * headDim;
        _linear = useLinearProjection;
        norm = Layers.GroupNorm(groups, channels, 1e-6);
        proj_in = useLinearProjection ? nn.Linear(channels, _inner) : Layers.Conv(channels, _inner, 1);
        transformer_blocks = new ModuleList<BasicTransformerBlock>(
            Enumerable.Range(0, (int)layers).Select(_ => new BasicTransformerBlock(_inner, heads, headDim, crossAttentionDim, upcast)).ToArray());
        proj_out = useLinearProjection ? nn.Linear(_inner, channels) : Layers.Conv(_inner, channels, 1);
        RegisterComponents();
    }

    public IEnumerable<Attention> Attentions => transformer_blocks.SelectMany(b => b.Attentions);

    public Tensor Forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var hs = norm.forward(x);
        if (!_linear) hs = proj_in.forward(hs).permute(0, 2, 3, 1).reshape(b, h * w, _inner);
        else hs = proj_in.forward(hs.permute(0, 2, 3, 1).reshape(b, h * w, c));
        foreach (var block in transformer_blocks) hs = block.Forward(hs, context);
        if (!_linear) hs = proj_out.forward(hs.reshape(b, h, w, _inner).permute(0, 3, 1, 2).contiguous());
        else hs = proj_out.forward(hs).reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous();
        return (hs + x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The VAE mid-block attention (diffusers Attention with a GroupNorm, one head over all channels, biases, residual).
/// </summary>
public sealed class SpatialSelfAttention : nn.Module
{
    readonly GroupNorm group_norm;
    readonly Linear to_q, to_k, to_v;
    readonly ModuleList<Linear> to_out;
    readonly double _scale;

    public SpatialSelfAttention(long channels, long groups, double eps) : base(nameof(SpatialSelfAttention))
    {
        group_norm = Layers.GroupNorm(groups, channels, eps);
        to_q = nn.Linear(channels, channels);
        to_k = nn.Linear(channels, channels);
        to_v = nn.Linear(channels, channels);
        to_out = new ModuleList<Linear>(nn.Linear(channels, channels));
        _scale = Math.Pow(channels, -0.5);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var hs = group_norm.forward(x).view(b, c, h * w).transpose(1, 2);
        var q = to_q.forward(hs);
        var k = to_k.forward(hs);
        var v = to_v.forward(hs);
        var dtype = q.dtype;
        // diffusers upcasts the VAE attention softmax to float32.
        var scores = bmm(q.to_type(ScalarType.Float32), k.to_type(ScalarType.Float32).transpose(1, 2)).mul_(_scale);
        var probs = scores.softmax(-1).to_type(dtype);
        var o = to_out[0].forward(bmm(probs, v));
        o = o.transpose(1, 2).reshape(b, c, h, w);
        return (o + x).MoveToOuterDisposeScope();
    }
}
