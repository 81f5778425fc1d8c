using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.Model;

namespace BrainMClip.Evaluation;

/// <summary>Retrieval of every stream present in a predictions file, as the JSON the CLI prints.</summary>
public static class RetrievalReport
{
    /// <summary>Retrieval of every stream in PRED against the test features (the JSON `brainmclip retrieve`
    /// prints).</summary>
    public static JsonObject Compute(string predPath, string featuresPath, int loops, int batch, long seed,
        TorchSharp.torch.Device? device = null)
    {
        var predicted = Predictions.Contents(predPath);
        var featHeader = FeatureFile.ReadHeader(featuresPath);
        var root = new JsonObject();
        foreach (var stream in new[] { Predictions.SemanticKey, Predictions.DetailKey })
        {
            if (!predicted.Contains(stream)) continue;   // ablated stream
            if (!featHeader.Entries.ContainsKey(stream))
                throw new UserInputException($"{featuresPath}: no '{stream}' tensor to compare the predictions with");
            using var pred = Predictions.Load(predPath, stream);
            var p = stream == Predictions.SemanticKey ? pred.Semantic! : pred.Detail!;
            using var y = FeatureFile.Read(featuresPath, stream);
            if (p.shape[0] != y.shape[0])
                throw new UserInputException(
                    $"{predPath} has {p.shape[0]} '{stream}' rows but {featuresPath} has {y.shape[0]}: features must " +
                        $"be " +
                    "of the same split, in the same order");
            using var onDevice = TorchSetup.IsCpu(device) ? null : p.to(device!);
            root[stream] = Retrieval.Compute(onDevice ?? p, y, loops, batch, seed).ToJson();
        }
        if (root.Count == 0)
            throw new UserInputException($"{predPath}: holds neither 'semantic' nor 'detail' predictions");
        return root;
    }
}
