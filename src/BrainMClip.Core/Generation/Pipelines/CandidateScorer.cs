using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// Scores candidate images for best-of-N against the brain-predicted CLIP tokens (never against the ground-truth
/// image).
/// </summary>
public interface ICandidateScorer : IDisposable
{
    /// <param name="images01">(K, 3, H, W) candidates in [0, 1].</param>
    /// <param name="predictedTokens">(T, P) brain-predicted CLIP-Semantic tokens of the same test sample.</param>
    /// <returns>One similarity per candidate; the highest wins.</returns>
    float[] Score(Tensor images01, Tensor predictedTokens);
}

/// <summary>
/// Scores with any image → CLIP-token function (e.g. CLIP ViT vd_tokens of the preprocessed candidates): cosine
/// similarity of the flattened (T·P) token matrices.
/// </summary>
public sealed class TokenCosineScorer : ICandidateScorer
{
    readonly Func<Tensor, Tensor> _imagesToTokens;
    readonly IDisposable? _owned;

    /// <param name="imagesToTokens">(K, 3, H, W) in [0, 1] → (K, T, P) tokens.</param>
    /// <param name="owned">Disposed with the scorer (e.g. the CLIP model).</param>
    public TokenCosineScorer(Func<Tensor, Tensor> imagesToTokens, IDisposable? owned = null)
    {
        _imagesToTokens = imagesToTokens;
        _owned = owned;
    }

    public float[] Score(Tensor images01, Tensor predictedTokens)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = _imagesToTokens(images01).to_type(ScalarType.Float32);
        var target = predictedTokens.to_type(ScalarType.Float32).to(tokens.device);
        if (tokens.dim() != 3 || !tokens.shape.Skip(1).SequenceEqual(target.shape))
            throw new UserInputException(
                $"best-of-N: CLIP tokens of the candidates have shape [{string.Join(",", tokens.shape)}] but the " +
                    $"predicted tokens have [{string.Join(",", target.shape)}]");
        return CosineFlat(tokens, target);
    }

    /// <summary>Cosine similarity between each (T, P) row of <paramref name="candidates"/> and <paramref
    /// name="target"/>, flattened.</summary>
    public static float[] CosineFlat(Tensor candidates, Tensor target)
    {
        using var scope = NewDisposeScope();
        var a = candidates.reshape(candidates.shape[0], -1);
        var b = target.reshape(1, -1).expand(a.shape[0], -1);
        return nn.functional.cosine_similarity(a, b, 1, 1e-8).to_type(ScalarType.Float32).cpu().data<float>()
            .ToArray();
    }

    public void Dispose() => _owned?.Dispose();
}
