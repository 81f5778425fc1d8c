namespace BrainMClip.Evaluation;

/// <summary>Where `evaluate` gets its CLIP image embedder from: the project's CLIP ViT loaded from NETS/clip.</summary>
public static class ClipEmbedders
{
    public static Func<string, IImageEmbedder> Factory { get; } = folder => ClipImageEmbedder.FromPretrained(folder);

    /// <summary>The factory with the CLIP model on <paramref name="device"/>.</summary>
    public static Func<string, IImageEmbedder> On(TorchSharp.torch.Device device) =>
        folder => ClipImageEmbedder.FromPretrained(folder, device);
}
