using BrainMClip.Features;

namespace BrainMClip.Generation.Pipelines;

/// <summary>Best-of-N with the CLIP vision model of a generator's <c>clip/</c> folder.</summary>
public static class ClipScorers
{
    /// <summary>
    /// Candidates in [0, 1] → CLIP preprocessing (Pillow-style bicubic resize + centre crop, float path) → ViT → VD
    /// tokens (the CLIP-Semantic space the brain predictions live in), compared by flattened cosine.
    /// </summary>
    public static ICandidateScorer Create(string clipFolder)
    {
        var clip = ClipVisionModel.FromPretrained(clipFolder);
        var processor = ClipImageProcessor.FromFolder(clipFolder);
        return new TokenCosineScorer(images =>
        {
            var pixels = processor.PreprocessBatch(images);
            using var output = clip.Run(pixels, new ClipRunOptions());
            return output.VdTokens.clone();
        }, clip);
    }
}
