using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

internal sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    readonly ClipAttention self_attn;
    readonly LayerNorm layer_norm1;
    readonly ClipMlp mlp;
    readonly LayerNorm layer_norm2;

    public ClipEncoderLayer(ClipVisionConfig c) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(c);
        layer_norm1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        mlp = new ClipMlp(c);
        layer_norm2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = x + self_attn.call(layer_norm1.call(x));
        return h + mlp.call(layer_norm2.call(h));
    }
}
