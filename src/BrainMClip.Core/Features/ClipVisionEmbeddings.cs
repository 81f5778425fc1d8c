using BrainMClip.Numerics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

/// <summary>Patch conv (no bias) + CLS token + learned position embeddings.</summary>
internal sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    readonly Parameter class_embedding;
    readonly RoutedConv2d patch_embedding; // the checked convolution route (issue 12), nn.Conv2d's keys
    readonly Embedding position_embedding;
    readonly int _width;

    public ClipVisionEmbeddings(ClipVisionConfig c) : base(nameof(ClipVisionEmbeddings))
    {
        _width = c.HiddenSize;
        class_embedding = new Parameter(zeros(c.HiddenSize));
        patch_embedding = new RoutedConv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize,
            hasBias: false);
        position_embedding = nn.Embedding(c.NumTokens, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        long b = pixelValues.shape[0];
        var patches = patch_embedding.call(pixelValues).flatten(2).transpose(1, 2); // (B, grid², W), row-major patches
        var cls = class_embedding.view(1, 1, _width).expand(b, 1, _width);
        var tokens = cat([cls, patches], 1);
        return tokens + position_embedding.weight!.unsqueeze(0);
    }
}
