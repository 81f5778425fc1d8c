using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// The upper-bound row of a reconstruction: the same generator, seeds and sampler conditioned on the test images' true
/// CLIP-Semantic tokens instead of the brain predictions. It separates generator quality (how recognisable images
/// from perfect tokens are) from decoding quality (how close the brain predictions get to them).
/// </summary>
public static class UpperBound
{
    /// <summary>Sub-folder of <c>reconstruct --out</c> holding the images rendered from the true features.</summary>
    public const string FolderName = "true_features";

    const string What = "true features (features of the test images)";

    /// <summary>renorm(true CLIP-Semantic tokens) of a features file: what perfect decoding gives (λ = 0).</summary>
    public static (Tensor Conditioning, Tensor Semantic, string Source) LoadConditioning(string featuresPath)
    {
        UserInputException.RequireFile(featuresPath, What);
        if (!FeatureFile.ReadHeader(featuresPath).Entries.ContainsKey(FeatureFile.Semantic))
            throw new UserInputException($"{featuresPath}: tensor 'semantic' (N,T,P) not found; the true " +
                                         "features must be the test images' features from 'brainmclip features'");
        var semantic = FeatureFile.Read(featuresPath, FeatureFile.Semantic).to_type(ScalarType.Float32);
        if (semantic.dim() != 3)
            throw new UserInputException(
                $"{featuresPath}: 'semantic' must be (N,T,P), got [{string.Join(",", semantic.shape)}]");
        string source = $"true CLIP-Semantic tokens of {featuresPath} (upper bound)";
        return (Conditioning.Renorm(semantic), semantic, source);
    }

    /// <summary>
    /// Renders <paramref name="o"/>'s test samples from <paramref name="trueFeatures"/> into OUT/true_features/ with
    /// the same generator, steps, guidance, candidates, seeds, sampler, limit, shard and resume as the prediction run.
    /// </summary>
    public static ReconstructResult Run(ReconstructOptions o, string trueFeatures,
        Func<string, ICandidateScorer>? scorerFactory = null, TextWriter? log = null)
    {
        UserInputException.RequireFile(trueFeatures, What);
        var pred = SafeTensors.ReadHeader(o.PredPath);
        var truth = SafeTensors.ReadHeader(trueFeatures);
        if (pred.Entries.TryGetValue("semantic", out var p) && truth.Entries.TryGetValue("semantic", out var t)
            && !p.Shape.SequenceEqual(t.Shape))
            throw new UserInputException(
                $"{trueFeatures}: 'semantic' is [{string.Join(",", t.Shape)}] but the predictions in {o.PredPath} " +
                $"are [{string.Join(",", p.Shape)}]; the true features must be those of the same test images, " +
                "in the same order");
        var upper = o with
        {
            PredPath = trueFeatures,
            OutDir = Path.Combine(o.OutDir, FolderName),
            FromTrueFeatures = true,
            Fusion = 0,
            RestandardizeWith = null,
        };
        return Reconstruction.Run(upper, scorerFactory, log);
    }
}
