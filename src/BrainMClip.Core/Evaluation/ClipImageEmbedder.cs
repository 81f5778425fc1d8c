using BrainMClip.Features;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>
/// The CLIP 2-way metric's network: the project's CLIP ViT (<see cref="ClipVisionModel"/>), projected image
/// embedding. Preprocessing follows MindEye's evaluation (not the HF processor): bilinear resize to the model's image
/// size (224 for ViT-L/14) without crop, CLIP mean/std normalisation.
/// </summary>
public sealed class ClipImageEmbedder(ClipVisionModel model) : IImageEmbedder
{
    public int InputSize => model.Config.ImageSize;
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    public static ClipImageEmbedder FromPretrained(string folder) => new(ClipVisionModel.FromPretrained(folder));

    public Tensor Embed(Tensor images01)
    {
        using var scope = NewDisposeScope();
        var x = Networks.MetricNetwork.Normalize(ImageTensors.Resize(images01, InputSize, InputSize), ClipMean,
            ClipStd);
        using var o = model.Run(x.to(model.Device), new ClipRunOptions());
        return o.ImageEmbeds.cpu().clone().MoveToOuterDisposeScope();
    }

    public void Dispose() => model.Dispose();
}
