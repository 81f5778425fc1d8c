using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

internal sealed class ClipEncoder : nn.Module
{
    public readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipVisionConfig c) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, c.NumHiddenLayers)
            .Select(_ => new ClipEncoderLayer(c)).ToArray());
        RegisterComponents();
    }
}
