using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>
/// diffusers Attention with AttnProcessor semantics: softmax(QKᵀ·d^-0.5)V per head, <c>to_q/to_k/to_v</c> (bias
/// optional), <c>to_out.0</c>. Optional slicing over (batch×heads) bounds the size of the score matrix.
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
            throw new UserInputException(
                $"attention: context batch {ctx.shape[0]} does not match the sample batch {b}");
        if (ctx.shape[2] != to_k.in_features)
            throw new UserInputException(
                $"attention: context width {ctx.shape[2]} does not match the model's cross_attention_dim " +
                $"{to_k.in_features}");
        long bh = b * _heads;
        int slice = SliceSize is { } s && s > 0 && s < bh ? s : (int)bh;
        var qp = to_q.forward(x);
        if (slice == bh && qp.dtype == ScalarType.Float32)
        {
            // Fused attention on (B, h, N, d) views: libtorch's CPU flash kernel never materialises the (B·h, N, M)
            // scores and needs no head-split copies; ~2× faster than bmm/softmax/bmm forward and backward at 256
            // tokens. Its default scale is d^-0.5 and it accumulates in float32, so upcast_attention changes nothing
            // for float32.
            var o4 = nn.functional.scaled_dot_product_attention(SplitHeads(qp, b, n),
                SplitHeads(to_k.forward(ctx), b, m),
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
                parts.Add(Attend(q.narrow(0, i, len), k.narrow(0, i, len), v.narrow(0, i, len))
                    .MoveToOuterDisposeScope());
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
