using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>
/// docs/model.md: the predicted streams become diffusion conditioning in one step,
/// c = renorm((1−λ)·ê_S + λ·P(ê_D)), renorm = divide all tokens of a sample by the norm of its CLS token (token 0);
/// optionally both streams are first re-standardised to the training features' statistics (Brain-Diffuser).
/// λ is applied in <see cref="Fuse"/> and nowhere else.
/// </summary>
public static class Conditioning
{
    public const double DefaultLambda = 0.25;

    /// <summary>Per-token, per-channel mean and std (T, P) of the training CLIP-Semantic features.</summary>
    public sealed record Statistics(Tensor Mean, Tensor Std, string Source) : IDisposable
    {
        public void Dispose() { Mean.Dispose(); Std.Dispose(); }
    }

    /// <param name="semantic">(N, T, P) predicted CLIP-Semantic tokens.</param>
    /// <param name="detailProjected">(N, T, P) P(ê_D), the fitted token-wise map applied to the detail
    /// prediction.</param>
    public static Tensor Fuse(Tensor semantic, Tensor detailProjected, double lambda)
    {
        UserInputException.Require(lambda is >= 0 and <= 1, "Fusion",
            $"fusion weight lambda must be in [0, 1] (got {lambda})");
        if (!semantic.shape.SequenceEqual(detailProjected.shape))
            throw new UserInputException(
                $"fusion: semantic tokens [{string.Join(",", semantic.shape)}] and projected detail tokens " +
                $"[{string.Join(",", detailProjected.shape)}] differ in shape");
        using var scope = NewDisposeScope();
        var mixed = semantic * (1 - lambda) + detailProjected * lambda;
        return Renorm(mixed).MoveToOuterDisposeScope();
    }

    /// <summary>Divides every token of each sample by the L2 norm of that sample's CLS token (as VD's image
    /// context).</summary>
    public static Tensor Renorm(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var cls = tokens.select(1, 0).norm(1, keepdim: true).unsqueeze(1).clamp_min(1e-12);
        return (tokens / cls).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Brain-Diffuser's step before conditioning the generator: per token and channel, standardise the predictions over
    /// the samples and give them the training features' mean and std. Ridge-like predictions are shrunk towards the
    /// mean; fed as they are, every sample conditions the generator on nearly the same tokens.
    /// </summary>
    public static Tensor Restandardize(Tensor predictions, Tensor mean, Tensor std)
    {
        if (predictions.shape[0] < 2)
            throw new UserInputException(
                "re-standardisation needs at least 2 predicted samples (it standardises over the samples)");
        using var scope = NewDisposeScope();
        var p64 = predictions.to_type(ScalarType.Float64);
        var z = (p64 - p64.mean([0], keepdim: true)) / p64.std(0, keepdim: true).clamp_min(1e-12);
        return (z * std + mean).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The conditioning of every sample of a PRED file: renorm((1−λ)·semantic + λ·detail_projected), re-standardised
    /// first to the statistics <paramref name="restandardizeTo"/> returns for the semantic predictions, if given;
    /// semantic only at λ = 0; a file without detail_projected falls
    /// back to its precomputed 'fused' tokens (with a warning).
    /// </summary>
    /// <returns>The conditioning (N,T,P), the semantic predictions (float32) and a description of how it was
    /// made.</returns>
    public static (Tensor Conditioning, Tensor Semantic, string Source) FromPredictions(string predPath, double lambda,
        Func<Tensor, Statistics>? restandardizeTo = null)
    {
        var contents = Predictions.Contents(predPath);
        if (!contents.Contains(Predictions.SemanticKey))
            throw new UserInputException(
                $"{predPath}: tensor 'semantic' (N,T,P) not found; write PRED with 'brainmclip predict'");
        Tensor semantic;
        using (var p = Predictions.Load(predPath, Predictions.SemanticKey))
            semantic = p.Semantic!.to_type(ScalarType.Float32);
        if (semantic.dim() != 3)
            throw new UserInputException(
                $"{predPath}: 'semantic' must be (N,T,P), got [{string.Join(",", semantic.shape)}]");
        using var target = restandardizeTo?.Invoke(semantic);
        string how = target is null ? "" : $", re-standardised to the statistics of {target.Source}";
        if (contents.Contains(Predictions.DetailProjectedKey))
        {
            using var p = Predictions.Load(predPath, Predictions.DetailProjectedKey);
            using var dp = p.DetailProjected!.to_type(ScalarType.Float32);
            if (target is null)
                return (Fuse(semantic, dp, lambda), semantic,
                    $"fused from semantic and detail_projected with lambda {lambda}");
            using var rs = Restandardize(semantic, target.Mean, target.Std);
            using var rdp = Restandardize(dp, target.Mean, target.Std);
            return (Fuse(rs, rdp, lambda), semantic,
                $"fused from semantic and detail_projected with lambda {lambda}{how}");
        }
        if (target is not null)
        {
            using var rs = Restandardize(semantic, target.Mean, target.Std);
            if (lambda == 0) return (Renorm(rs), semantic, $"semantic only (lambda 0){how}");
            throw new UserInputException(
                $"{predPath}: tensor 'detail_projected' (N,T,P) not found, needed for fusion weight {lambda} with " +
                "re-standardisation (use fusion weight 0 for semantic only)");
        }
        if (lambda == 0) return (Renorm(semantic), semantic, "semantic only (lambda 0)");
        if (contents.Contains(Predictions.FusedKey))
        {
            Console.Error.WriteLine(
                $"warning: {predPath} has no 'detail_projected'; using its precomputed 'fused' tokens (the fusion " +
                    $"weight is ignored)");
            using var p = Predictions.Load(predPath, Predictions.FusedKey);
            return (p.Fused!.to_type(ScalarType.Float32), semantic, "precomputed 'fused' from PRED");
        }
        throw new UserInputException(
            $"{predPath}: tensor 'detail_projected' (N,T,P) not found, needed for fusion weight {lambda} (use " +
            "fusion weight 0 for semantic only)");
    }
}
