using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers Downsample2D with use_conv: stride-2 3×3 conv; padding 0 means the (0,1,0,1) pad of the VAE
/// encoder.</summary>
public sealed class Downsample2D : nn.Module
{
    readonly RoutedConv2d conv;
    readonly long _padding;

    public Downsample2D(long channels, long padding) : base(nameof(Downsample2D))
    {
        _padding = padding;
        conv = Layers.Conv(channels, channels, 3, stride: 2, padding: padding);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        if (_padding != 0) return conv.forward(x);
        using var padded = F.pad(x, [0, 1, 0, 1], PaddingModes.Constant, 0);
        return conv.forward(padded);
    }
}
