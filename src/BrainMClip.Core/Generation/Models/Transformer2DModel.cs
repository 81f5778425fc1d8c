using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers Transformer2DModel for continuous inputs: GroupNorm (eps 1e-6) → proj_in → blocks → proj_out → +
/// input.</summary>
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
            Enumerable.Range(0, (int)layers)
                .Select(_ => new BasicTransformerBlock(_inner, heads, headDim, crossAttentionDim, upcast)).ToArray());
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
