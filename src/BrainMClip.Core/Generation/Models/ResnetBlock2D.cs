using BrainMClip.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers ResnetBlock2D (time_embedding_norm "default", output_scale_factor 1 unless given).</summary>
public sealed class ResnetBlock2D : nn.Module
{
    readonly GroupNorm norm1;
    readonly RoutedConv2d conv1;
    readonly Linear? time_emb_proj;
    readonly GroupNorm norm2;
    readonly RoutedConv2d conv2;
    readonly RoutedConv2d? conv_shortcut;
    readonly double _outputScale;

    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, long groups, double eps,
        double outputScale = 1.0)
        : base(nameof(ResnetBlock2D))
    {
        norm1 = Layers.GroupNorm(groups, inChannels, eps);
        conv1 = Layers.Conv(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is { } tc) time_emb_proj = nn.Linear(tc, outChannels);
        norm2 = Layers.GroupNorm(groups, outChannels, eps);
        conv2 = Layers.Conv(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = Layers.Conv(inChannels, outChannels, 1);
        _outputScale = outputScale;
        RegisterComponents();
    }

    public Tensor Forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(F.silu(norm1.forward(input)));
        if (time_emb_proj != null && temb is not null)
            h = h + time_emb_proj.forward(F.silu(temb)).unsqueeze(-1).unsqueeze(-1);
        h = conv2.forward(F.silu(norm2.forward(h)));
        var shortcut = conv_shortcut != null ? conv_shortcut.forward(input) : input;
        var output = shortcut + h;
        if (_outputScale != 1.0) output = output / _outputScale;
        return output.MoveToOuterDisposeScope();
    }
}
