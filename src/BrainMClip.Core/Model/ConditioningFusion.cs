using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>
/// Fusion (docs/model.md) of the predicted streams into diffusion conditioning:
/// c = renorm((1−λ)·ê_S + λ·P(ê_D)), renorm = divide all tokens of a sample by the norm of its CLS token (token 0).
/// <c>detailProjected</c> is P(ê_D), the fitted token-wise map applied to the detail prediction.
/// </summary>
public static class ConditioningFusion
{
    public const double DefaultLambda = 0.25;

    /// <param name="semantic">(N, T, P) predicted CLIP-Semantic tokens.</param>
    /// <param name="detailProjected">(N, T, P) P(ê_D).</param>
    public static Tensor Fuse(Tensor semantic, Tensor detailProjected, double lambda)
    {
        if (lambda is < 0 or > 1) throw new UserInputException($"--fusion {lambda}: expected a value in [0, 1]");
        if (!semantic.shape.SequenceEqual(detailProjected.shape))
            throw new UserInputException(
                $"fusion: semantic tokens [{string.Join(",", semantic.shape)}] and projected detail tokens [{string.Join(",", detailProjected.shape)}] differ in shape");
        using var scope = NewDisposeScope();
        var mixed = semantic * (1 - lambda) + detailProjected * lambda;
        return Renorm(mixed).MoveToOuterDisposeScope();
    }

    /// <summary>Divides every token of each sample by the L2 norm of that sample's CLS token (as VD's image context).</summary>
    public static Tensor Renorm(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var cls = tokens.select(1, 0).norm(1, keepdim: true).unsqueeze(1).clamp_min(1e-12);
        return (tokens / cls).MoveToOuterDisposeScope();
    }
}
