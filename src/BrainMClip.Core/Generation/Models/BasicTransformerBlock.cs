using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers BasicTransformerBlock (layer norm variant): self-attention, cross-attention, GEGLU
/// feed-forward.</summary>
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
