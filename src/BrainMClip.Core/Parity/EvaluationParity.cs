using BrainMClip.Evaluation;
using BrainMClip.Evaluation.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Parity;

/// <summary>
/// `parity` components of the evaluation area (docs/parity.md): each reads the tensors it recognises and returns every
/// output it can compute, under the tensor names PyTorch-side checks use.
/// </summary>
public interface IEvaluationParityComponent
{
    string Name { get; }
    string Description { get; }
    Dictionary<string, Tensor> Run(string? model, IReadOnlyDictionary<string, Tensor> inputs);
}

/// <summary>`twoway`: `real`, `pred` (N,D) → `twoway_score`, `twoway_counts` (per prediction),
/// `corr_distance`.</summary>
public sealed class TwoWayParity : IEvaluationParityComponent
{
    public string Name => "twoway";
    public string Description =>
        "2-way identification and correlation distance: real, pred (N,D) -> twoway_score, twoway_counts, " +
        "corr_distance (no model).";

    public Dictionary<string, Tensor> Run(string? model, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var real = Require(inputs, "real", Name);
        var pred = Require(inputs, "pred", Name);
        if (real.dim() < 2 || pred.dim() < 2 || real.shape[0] != pred.shape[0])
            throw new UserInputException(
                $"parity twoway: 'real' and 'pred' must be (N,D) with the same N (got " +
                $"[{string.Join(",", real.shape)}] and [{string.Join(",", pred.shape)}])");
        if (real.shape[0] < 2) throw new UserInputException("parity twoway: at least 2 samples are needed");
        var tw = Identification.TwoWay(real, pred);
        var (dist, per) = Identification.CorrelationDistance(real, pred);
        return new Dictionary<string, Tensor>
        {
            ["twoway_score"] = tensor(new[] { tw.Score }),
            ["twoway_counts"] = tensor(tw.Counts.Select(c => (long)c).ToArray()),
            ["twoway_per_image"] = tensor(tw.PerImage),
            ["corr_distance"] = tensor(new[] { dist }),
            ["corr_distance_per_image"] = tensor(per),
        };
    }

    internal static Tensor Require(IReadOnlyDictionary<string, Tensor> inputs, string name, string component) =>
        inputs.TryGetValue(name, out var t) ? t
            : throw new UserInputException(
                $"parity {component}: input tensor '{name}' not found (have: {string.Join(", ", inputs.Keys)})");
}

/// <summary>`alexnet|inception_v3|efficientnet_b1|resnet50`: `input` (already resized and normalised) → protocol
/// nodes.</summary>
public sealed class NetworkParity(string name) : IEvaluationParityComponent
{
    public static readonly string[] Names = ["alexnet", "inception_v3", "efficientnet_b1", "resnet50"];

    public string Name => name;
    // A static table, not MetricNetwork.Create(name).Nodes: building Inception just for --help would take seconds.
    static readonly Dictionary<string, string> NodeText = new()
    {
        ["alexnet"] = "features.4, features.11",
        ["inception_v3"] = "avgpool (transform_input=True)",
        ["efficientnet_b1"] = "avgpool",
        ["resnet50"] = "avgpool",
    };

    public string Description =>
        $"torchvision {name} (the model: FILE.safetensors or a folder holding {name}.safetensors; classifier weights " +
        $"optional): input (N,3,H,W, resized and normalised) -> {NodeText[name]}.";

    public Dictionary<string, Tensor> Run(string? model, IReadOnlyDictionary<string, Tensor> inputs)
    {
        if (string.IsNullOrEmpty(model)) throw new UserInputException(
            $"parity {name}: the model (a torchvision-named safetensors file or a folder with {name}.safetensors) is " +
            $"required");
        var input = TwoWayParity.Require(inputs, "input", name);
        if (input.dim() != 4 || input.shape[1] != 3)
            throw new UserInputException(
                $"parity {name}: 'input' must be (N,3,H,W), got [{string.Join(",", input.shape)}]");
        using var net = MetricNetwork.Create(name);
        net.LoadWeights(ResolveWeights(model, name));
        using var _ = no_grad();
        return net.Extract(input.to_type(ScalarType.Float32));
    }

    /// <summary>A file as given, or in a folder `NAME.safetensors`, `model.safetensors`, or its only safetensors
    /// file.</summary>
    public static string ResolveWeights(string path, string name)
    {
        if (File.Exists(path)) return path;
        if (!Directory.Exists(path)) throw new UserInputException($"{path}: weights file or folder not found");
        foreach (var candidate in new[] { $"{name}.safetensors", "model.safetensors" })
            if (File.Exists(Path.Combine(path, candidate))) return Path.Combine(path, candidate);
        var all = Directory.GetFiles(path, "*.safetensors");
        return all.Length == 1 ? all[0]
            : throw new UserInputException(
                $"{path}: expected {name}.safetensors (or a single .safetensors file) in this folder");
    }
}
