using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

// Building blocks of the diffusers UNet and VAE, one per file beside this one (ResnetBlock2D, Downsample2D,
// Upsample2D, Attention, GEGLU, FeedForward, BasicTransformerBlock, Transformer2DModel, SpatialSelfAttention).
// Field names are the diffusers state-dict keys (TorchSharp registers fields by name), so a diffusers checkpoint
// loads key for key.

/// <summary>Shared helpers of the building blocks.</summary>
internal static class Layers
{
    /// <summary>GroupNorm with weight 1 / bias 0: TorchSharp 0.107 leaves GroupNorm parameters uninitialised.</summary>
    public static GroupNorm GroupNorm(long groups, long channels, double eps)
    {
        var g = nn.GroupNorm(groups, channels, eps, affine: true);
        using (no_grad())
        {
            g.weight!.fill_(1.0);
            g.bias!.zero_();
        }
        return g;
    }

    /// <summary>nn.Conv2d's keys and initialisation, computed along the process's checked route (issue 12).</summary>
    public static RoutedConv2d Conv(long cin, long cout, long k, long stride = 1, long padding = 0) =>
        new(cin, cout, k, stride: stride, padding: padding);

    public static string Shape(Tensor t) => "[" + string.Join(",", t.shape) + "]";
}
