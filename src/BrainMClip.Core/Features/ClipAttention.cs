using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

internal sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    readonly Linear q_proj, k_proj, v_proj, out_proj;
    readonly int _heads, _headDim;

    public ClipAttention(ClipVisionConfig c) : base(nameof(ClipAttention))
    {
        _heads = c.NumAttentionHeads; _headDim = c.HeadDim;
        q_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        k_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        v_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        out_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], w = x.shape[2];
        Tensor Heads(Linear proj) => proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2); // (B, H, T, D)
        // SDPA scales by 1/sqrt(head_dim), as HF does with q * scale.
        var o = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj));
        return out_proj.call(o.transpose(1, 2).reshape(b, t, w));
    }
}
