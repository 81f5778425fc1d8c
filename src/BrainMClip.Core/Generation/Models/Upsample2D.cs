using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers Upsample2D with use_conv: nearest 2× (or to an explicit size) then a 3×3 conv.</summary>
public sealed class Upsample2D : nn.Module
{
    readonly RoutedConv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = Layers.Conv(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="size">Target (H, W); null = exactly 2×.</param>
    /// <param name="consumeInput">The caller hands <paramref name="x"/> over: it is freed once interpolated, before
    /// the convolution allocates its output.</param>
    public Tensor Forward(Tensor x, long[]? size = null, bool consumeInput = false)
    {
        using var scope = NewDisposeScope();
        var dtype = x.dtype;
        // Nearest interpolation has no bfloat16 kernel in some libtorch builds; diffusers upcasts the same way.
        var src = dtype == ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
        size ??= [x.shape[2] * 2, x.shape[3] * 2];
        var up = F.interpolate(src, size: size, mode: InterpolationMode.Nearest);
        if (consumeInput) { src.Dispose(); x.Dispose(); }
        if (up.dtype != dtype) up = up.to_type(dtype);
        return conv.forward(up).MoveToOuterDisposeScope();
    }
}
