namespace BrainMClip.Evaluation;

/// <summary>Where `evaluate` gets its CLIP image embedder from: the project's CLIP ViT loaded from NETS/clip.</summary>
public static class ClipEmbedders
{
    public static Func<string, IImageEmbedder> Factory { get; } = folder => ClipImageEmbedder.FromPretrained(folder);
}
