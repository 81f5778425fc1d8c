using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// torchvision Inception-v3 (TorchVision .NET's port, whose state-dict keys equal torchvision's) with
/// <c>transform_input=True</c> — the behaviour of torchvision's pretrained builder, which re-maps ImageNet-normalised
/// input to the (x−0.5)/0.5 normalisation the weights were trained with. Reports <c>avgpool</c> (N,2048,1,1) at 342.
/// <c>fc.*</c> and <c>AuxLogits.*</c> weights are optional.
/// </summary>
public sealed class InceptionV3Features : MetricNetwork
{
    readonly TorchSharp.Modules.InceptionV3 net;

    public InceptionV3Features() : base("InceptionV3")
    {
        net = torchvision.models.inception_v3(transform_input: true);
        RegisterComponents();
    }

    public override int InputSize => 342;
    public override IReadOnlyList<string> Nodes => ["avgpool"];

    public override bool IsOptionalKey(string key) =>
        key.StartsWith("fc.", StringComparison.Ordinal) || key.StartsWith("AuxLogits.", StringComparison.Ordinal);

    protected override nn.Module WeightsRoot => net;

    public override Dictionary<string, Tensor> Extract(Tensor input)
    {
        var avgpool = (nn.Module<Tensor, Tensor>)net.named_modules().First(m => m.name == "avgpool").module;
        Tensor? captured = null;
        var hook = avgpool.register_forward_hook((_, _, output) =>
        {
            // The model disposes its intermediate tensors when forward returns: keep a copy.
            captured = output.clone().DetachFromDisposeScope();
            return null!;
        });
        try
        {
            using var scope = NewDisposeScope();
            net.call(input);
        }
        finally { hook.remove(); }
        return new Dictionary<string, Tensor>
        { ["avgpool"] = captured ?? throw new InvalidOperationException("Inception avgpool hook did not fire") };
    }

    public override Tensor forward(Tensor input) => Extract(input)["avgpool"];
}
