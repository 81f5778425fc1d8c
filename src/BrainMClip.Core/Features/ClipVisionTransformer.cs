using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

internal sealed class ClipVisionTransformer : nn.Module
{
    public readonly ClipVisionEmbeddings embeddings;
    public readonly LayerNorm pre_layrnorm; // sic: HF's spelling, it is the state-dict key
    public readonly ClipEncoder encoder;
    public readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig c) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(c);
        pre_layrnorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        encoder = new ClipEncoder(c);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }
}
