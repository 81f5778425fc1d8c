using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

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
