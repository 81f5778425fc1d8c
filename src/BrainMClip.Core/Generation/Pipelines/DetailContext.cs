using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// The second half of a <c>--context semantic+detail</c> generator's context: the CLIP-Detail tokens of every sample,
/// appended per token to the (fused) semantic conditioning. Brain predictions are re-standardised to the training
/// features' detail statistics when the semantic tokens are (<see cref="ReconstructOptions.RestandardizeWith"/>).
/// </summary>
public static class DetailContext
{
    /// <param name="cond">(N, T, P) semantic conditioning.</param>
    /// <returns>(N, T, P + W) when the generator reads both streams, else <paramref name="cond"/> itself.</returns>
    public static (Tensor Conditioning, string Source) Append(Tensor cond, string source, ReconstructOptions o,
        GeneratorInfo? info)
    {
        if (info is not { UsesDetail: true }) return (cond, source);
        using var scope = NewDisposeScope();
        var detail = o.FromTrueFeatures ? TrueDetail(o.PredPath) : PredictedDetail(o.PredPath);
        if (detail.dim() != 3 || detail.shape[0] != cond.shape[0] || detail.shape[1] != cond.shape[1])
            throw new UserInputException(
                $"{o.PredPath}: 'detail' is [{string.Join(",", detail.shape)}] but the semantic tokens are " +
                $"[{string.Join(",", cond.shape)}]; expected the same samples and tokens");
        string how = "";
        if (o.RestandardizeWith is { } train && !o.FromTrueFeatures)
        {
            var (mean, std) = FeatureFile.TokenStatistics(train, FeatureFile.Detail, detail.shape[1], detail.shape[2]);
            detail = Conditioning.Restandardize(detail, mean, std);
            how = $", re-standardised to the statistics of {train}";
        }
        var both = cat([cond, detail], 2);
        return (both.MoveToOuterDisposeScope(), $"{source}; CLIP-Detail tokens appended per token{how}");
    }

    static Tensor TrueDetail(string featuresPath)
    {
        if (!FeatureFile.ReadHeader(featuresPath).Entries.ContainsKey(FeatureFile.Detail))
            throw new UserInputException(
                $"{featuresPath}: tensor 'detail' (N,T,W) not found; the generator is conditioned on semantic+detail");
        return FeatureFile.Read(featuresPath, FeatureFile.Detail).to_type(ScalarType.Float32);
    }

    static Tensor PredictedDetail(string predPath)
    {
        if (!Predictions.Contents(predPath).Contains(Predictions.DetailKey))
            throw new UserInputException(
                $"{predPath}: tensor 'detail' (N,T,W) not found, but the generator is conditioned on " +
                "semantic+detail (generator.json context_streams); predict with a model that has the detail stream");
        using var p = Predictions.Load(predPath, Predictions.DetailKey);
        return p.Detail!.to_type(ScalarType.Float32);
    }
}
