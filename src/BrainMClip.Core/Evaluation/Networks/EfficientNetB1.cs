using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// torchvision 0.14 EfficientNet-B1 (width 1.0, depth 1.1), written here because TorchVision .NET 0.107 has no
/// EfficientNet. MBConv blocks with squeeze-and-excitation, SiLU, BatchNorm2d(eps 1e-5), stochastic depth (identity
/// in eval). Keys as torchvision: <c>features.{0..8}...</c>, <c>classifier.1.*</c> optional. Reports <c>avgpool</c>
/// (N,1280,1,1) at 255×255 input.
/// </summary>
public sealed class EfficientNetB1 : AvgPoolMetricNetwork
{
    readonly Sequential features;

    /// <summary>(expand ratio, kernel, stride, in, out, layers) of EfficientNet-B0; B1 scales the layer counts by
    /// 1.1.</summary>
    static readonly (int expand, int kernel, int stride, int cin, int cout, int layers)[] Stages =
    [
        (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
    ];

    public const double DepthMult = 1.1;

    public EfficientNetB1() : base("EfficientNetB1")
    {
        var layers = new List<Module<Tensor, Tensor>> { ConvNormAct(3, 32, 3, 2, 1, true) };
        foreach (var (expand, kernel, stride, cin, cout, n) in Stages)
        {
            int count = (int)Math.Ceiling(n * DepthMult);
            var stage = new List<Module<Tensor, Tensor>>();
            for (int i = 0; i < count; i++)
                stage.Add(new MBConv(i == 0 ? cin : cout, cout, expand, kernel, i == 0 ? stride : 1));
            layers.Add(Sequential(stage));
        }
        layers.Add(ConvNormAct(320, 1280, 1, 1, 1, true));
        features = Sequential(layers);
        RegisterComponents();
    }

    public override int InputSize => 255;
    protected override string HeadPrefix => "classifier.";

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return functional.adaptive_avg_pool2d(features.call(x), [1, 1]).MoveToOuterDisposeScope();
    }

    /// <summary>torchvision Conv2dNormActivation: conv (no bias, padding (k−1)/2) + BatchNorm + optional
    /// SiLU.</summary>
    static Sequential ConvNormAct(int cin, int cout, int kernel, int stride, int groups, bool act)
    {
        var conv = new RoutedConv2d(cin, cout, kernel, stride, (kernel - 1) / 2, groups, hasBias: false);
        var bn = BatchNorm2d(cout, eps: 1e-5);
        return act ? Sequential(conv, bn, SiLU()) : Sequential(conv, bn);
    }

    /// <summary>torchvision _make_divisible(v, 8).</summary>
    static int MakeDivisible(double v, int divisor = 8)
    {
        int nv = Math.Max(divisor, (int)(v + divisor / 2.0) / divisor * divisor);
        if (nv < 0.9 * v) nv += divisor;
        return nv;
    }

    sealed class SqueezeExcitation : Module<Tensor, Tensor>
    {
        readonly RoutedConv2d fc1, fc2;

        public SqueezeExcitation(int channels, int squeeze) : base("SqueezeExcitation")
        {
            fc1 = new RoutedConv2d(channels, squeeze, 1);
            fc2 = new RoutedConv2d(squeeze, channels, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var s = functional.adaptive_avg_pool2d(x, [1, 1]);
            s = torch.sigmoid(fc2.call(functional.silu(fc1.call(s))));
            return (s * x).MoveToOuterDisposeScope();
        }
    }

    sealed class MBConv : Module<Tensor, Tensor>
    {
        readonly Sequential block;
        readonly bool useResidual;

        public MBConv(int cin, int cout, int expandRatio, int kernel, int stride) : base("MBConv")
        {
            useResidual = stride == 1 && cin == cout;
            int expanded = MakeDivisible(cin * (double)expandRatio);
            var layers = new List<Module<Tensor, Tensor>>();
            if (expanded != cin) layers.Add(ConvNormAct(cin, expanded, 1, 1, 1, true));
            layers.Add(ConvNormAct(expanded, expanded, kernel, stride, expanded, true));
            layers.Add(new SqueezeExcitation(expanded, Math.Max(1, cin / 4)));
            layers.Add(ConvNormAct(expanded, cout, 1, 1, 1, false));
            block = Sequential(layers);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var r = block.call(x);
            // Stochastic depth is the identity in eval mode.
            if (useResidual) r = r + x;
            return r.MoveToOuterDisposeScope();
        }
    }
}
