using static TorchSharp.torch;

namespace BrainMClip.Parity;

/// <summary>Adapts an evaluation component to the shared `parity` command (<see cref="IParityComponent"/>).</summary>
public abstract class EvaluationParityAdapter(IEvaluationParityComponent inner) : IParityComponent
{
    public string Name => inner.Name;
    public string Description => inner.Description;

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs, ParityOptions options)
    {
        foreach (var (k, v) in inner.Run(model, inputs)) outputs[k] = v;
    }
}

public sealed class TwoWayParityComponent() : EvaluationParityAdapter(new TwoWayParity());
public sealed class AlexNetParityComponent() : EvaluationParityAdapter(new NetworkParity("alexnet"));
public sealed class InceptionV3ParityComponent() : EvaluationParityAdapter(new NetworkParity("inception_v3"));
public sealed class EfficientNetB1ParityComponent() : EvaluationParityAdapter(new NetworkParity("efficientnet_b1"));
public sealed class ResNet50ParityComponent() : EvaluationParityAdapter(new NetworkParity("resnet50"));
