using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation.Networks;

/// <summary>A feature network used by a metric: torchvision-named weights, an input size and the nodes it
/// reports.</summary>
public abstract class MetricNetwork : nn.Module<Tensor, Tensor>
{
    protected MetricNetwork(string name) : base(name) { }

    /// <summary>Side of the square input the protocol resizes to (docs/evaluation.md).</summary>
    public abstract int InputSize { get; }

    /// <summary>Node names as torchvision's feature extractor reports them (e.g. "features.4", "avgpool").</summary>
    public abstract IReadOnlyList<string> Nodes { get; }

    /// <summary>Whether a state-dict key may be missing from a weights file (classifier and auxiliary heads).</summary>
    public abstract bool IsOptionalKey(string key);

    /// <summary>Runs the network on an already resized and normalised (N,3,S,S) batch; returns every node's
    /// output.</summary>
    public abstract Dictionary<string, Tensor> Extract(Tensor input);

    /// <summary>The metric networks, their weight files in a nets folder and the metrics each serves
    /// (docs/evaluation.md).</summary>
    public static readonly IReadOnlyList<(string net, string file, string[] metrics)> Files =
    [
        ("alexnet", "alexnet.safetensors", ["alexnet2", "alexnet5"]),
        ("inception_v3", "inception_v3.safetensors", ["inception"]),
        ("efficientnet_b1", "efficientnet_b1.safetensors", ["efficientnet"]),
        ("resnet50", "swav_resnet50.safetensors", ["swav"]),
    ];

    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Protocol preprocessing: bilinear resize (no crop) to <see cref="InputSize"/>, ImageNet
    /// normalisation.</summary>
    public virtual Tensor Preprocess(Tensor images01)
    {
        using var scope = NewDisposeScope();
        var x = ImageTensors.Resize(images01, InputSize, InputSize);
        return Normalize(x, ImageNetMean, ImageNetStd).MoveToOuterDisposeScope();
    }

    public static Tensor Normalize(Tensor x, float[] mean, float[] std)
    {
        using var scope = NewDisposeScope();
        var m = tensor(mean).view(1, 3, 1, 1);
        var s = tensor(std).view(1, 3, 1, 1);
        return ((x - m) / s).MoveToOuterDisposeScope();
    }

    /// <summary>The module whose state-dict keys equal torchvision's (this, unless the network wraps a port).</summary>
    protected virtual nn.Module WeightsRoot => this;

    /// <summary>The torchvision-named state dict (what a weights file holds), e.g. to write seeded random
    /// weights.</summary>
    public Dictionary<string, Tensor> WeightsStateDict() => WeightsRoot.state_dict();

    /// <summary>Loads torchvision-named weights from a safetensors file and switches to eval mode.</summary>
    public StateDictLoader.LoadReport LoadWeights(string path)
    {
        var report = StateDictLoader.LoadFile(WeightsRoot, path, IsOptionalKey);
        eval();
        return report;
    }

    /// <summary>Builds a network by its parity/metric name: alexnet, inception_v3, efficientnet_b1, resnet50.</summary>
    public static MetricNetwork Create(string name) => name switch
    {
        "alexnet" => new AlexNetFeatures(),
        "inception_v3" => new InceptionV3Features(),
        "efficientnet_b1" => new EfficientNetB1(),
        "resnet50" => new ResNet50(),
        _ =>
            throw new UserInputException(
            $"unknown network '{name}' (expected alexnet, inception_v3, efficientnet_b1 or resnet50)"),
    };
}

/// <summary>A network the metrics read at one node, the global average pool ("avgpool", (N, C, 1, 1), what
/// <c>forward</c> returns), whose classifier head (keys under <see cref="HeadPrefix"/>) a weights file may
/// lack.</summary>
public abstract class AvgPoolMetricNetwork(string name) : MetricNetwork(name)
{
    /// <summary>State-dict prefix of the classifier head, e.g. "fc.".</summary>
    protected abstract string HeadPrefix { get; }

    public sealed override IReadOnlyList<string> Nodes => ["avgpool"];

    public sealed override bool IsOptionalKey(string key) => key.StartsWith(HeadPrefix, StringComparison.Ordinal);

    public sealed override Dictionary<string, Tensor> Extract(Tensor input) => new() { ["avgpool"] = forward(input) };
}
