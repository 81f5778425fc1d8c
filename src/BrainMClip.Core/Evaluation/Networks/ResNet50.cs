using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// torchvision ResNet-50 (v1.5: stride on the 3×3 conv) up to <c>avgpool</c>, the node the SwAV distance uses.
/// Keys as torchvision (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, ..., <c>layerK.0.downsample.0/1</c>);
/// <c>fc.*</c> is optional (SwAV checkpoints have none after conversion).
/// </summary>
public sealed class ResNet50 : AvgPoolMetricNetwork
{
    readonly RoutedConv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Sequential layer1, layer2, layer3, layer4;

    public ResNet50() : base("ResNet50")
    {
        conv1 = new RoutedConv2d(3, 64, 7, 2, 3, hasBias: false);
        bn1 = BatchNorm2d(64);
        int inplanes = 64;
        Sequential Layer(int planes, int blocks, int stride)
        {
            var list = new List<Module<Tensor, Tensor>> { new Bottleneck(inplanes, planes, stride) };
            inplanes = planes * Bottleneck.Expansion;
            for (int i = 1; i < blocks; i++) list.Add(new Bottleneck(inplanes, planes, 1));
            return Sequential(list);
        }
        layer1 = Layer(64, 3, 1);
        layer2 = Layer(128, 4, 2);
        layer3 = Layer(256, 6, 2);
        layer4 = Layer(512, 3, 2);
        RegisterComponents();
    }

    public override int InputSize => 224;
    protected override string HeadPrefix => "fc.";

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = functional.relu(bn1.call(conv1.call(x)));
        x = functional.max_pool2d(x, [3, 3], [2, 2], [1, 1]);
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return functional.adaptive_avg_pool2d(x, [1, 1]).MoveToOuterDisposeScope();
    }

    sealed class Bottleneck : Module<Tensor, Tensor>
    {
        public const int Expansion = 4;
        readonly RoutedConv2d conv1, conv2, conv3;
        readonly BatchNorm2d bn1, bn2, bn3;
        readonly Sequential? downsample;

        public Bottleneck(int inplanes, int planes, int stride) : base("Bottleneck")
        {
            conv1 = new RoutedConv2d(inplanes, planes, 1, hasBias: false);
            bn1 = BatchNorm2d(planes);
            conv2 = new RoutedConv2d(planes, planes, 3, stride, 1, hasBias: false);
            bn2 = BatchNorm2d(planes);
            conv3 = new RoutedConv2d(planes, planes * Expansion, 1, hasBias: false);
            bn3 = BatchNorm2d(planes * Expansion);
            if (stride != 1 || inplanes != planes * Expansion)
                downsample = Sequential(new RoutedConv2d(inplanes, planes * Expansion, 1, stride, hasBias: false),
                    BatchNorm2d(planes * Expansion));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var o = functional.relu(bn1.call(conv1.call(x)));
            o = functional.relu(bn2.call(conv2.call(o)));
            o = bn3.call(conv3.call(o));
            var identity = downsample is null ? x : downsample.call(x);
            return functional.relu(o + identity).MoveToOuterDisposeScope();
        }
    }
}
