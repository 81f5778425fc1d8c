using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// torchvision AlexNet's convolutional trunk (keys <c>features.*</c>); the classifier is not needed for the metrics
/// and its weights are ignored. Reports <c>features.4</c> (2nd conv + ReLU, "Alex(2)") and <c>features.11</c>
/// (5th conv + ReLU, "Alex(5)") at 256×256 input.
/// </summary>
public sealed class AlexNetFeatures : MetricNetwork
{
    readonly Sequential features;

    public AlexNetFeatures() : base("AlexNet")
    {
        features = Sequential(
            new RoutedConv2d(3, 64, 11, 4, 2), ReLU(), MaxPool2d(3, 2),
            new RoutedConv2d(64, 192, 5, 1, 2), ReLU(), MaxPool2d(3, 2),
            new RoutedConv2d(192, 384, 3, 1, 1), ReLU(),
            new RoutedConv2d(384, 256, 3, 1, 1), ReLU(),
            new RoutedConv2d(256, 256, 3, 1, 1), ReLU(), MaxPool2d(3, 2));
        RegisterComponents();
    }

    public override int InputSize => 256;
    public override IReadOnlyList<string> Nodes => ["features.4", "features.11"];
    public override bool IsOptionalKey(string key) => key.StartsWith("classifier.", StringComparison.Ordinal);

    public override Dictionary<string, Tensor> Extract(Tensor input)
    {
        using var scope = NewDisposeScope();
        var f4 = features[..5].call(input);
        var f11 = features[5..12].call(f4);
        return new Dictionary<string, Tensor>
        {
            ["features.4"] = f4.MoveToOuterDisposeScope(),
            ["features.11"] = f11.MoveToOuterDisposeScope(),
        };
    }

    public override Tensor forward(Tensor input) => Extract(input)["features.11"];
}
