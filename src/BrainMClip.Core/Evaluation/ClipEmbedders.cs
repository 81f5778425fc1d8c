namespace BrainMClip.Evaluation;

/// <summary>Where `evaluate` gets its CLIP image embedder from (the project's CLIP ViT once it is available).</summary>
public static class ClipEmbedders
{
    /// <summary>Null while the build has no CLIP vision model; then the CLIP metric is reported as skipped.</summary>
    public static Func<string, IImageEmbedder>? Factory => null;
}
