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

    /// <remarks>
    /// Each intermediate is freed as soon as it is consumed (a dispose scope alone keeps all of them to its end: at
    /// the VAE's 512² stage that is ~1 GB more than PyTorch, which frees them by reference count). Tensors autograd
    /// saved for the backward pass stay alive through autograd's own references. Without autograd the SiLUs run in
    /// place.
    /// </remarks>
    /// <param name="consumeInput">The caller hands <paramref name="input"/> over: with a shortcut conv it is freed
    /// right after its last use (shortcut first, then norm1), not at the end — at the VAE's last level a 256-channel
    /// 512² input is 268 MB. Same operations, same values.</param>
    public Tensor Forward(Tensor input, Tensor? temb, bool consumeInput = false)
    {
        using var scope = NewDisposeScope();
        Tensor? shortcut = null;
        if (consumeInput && conv_shortcut != null) shortcut = conv_shortcut.forward(input);
        var n1 = NormAct(norm1, input);
        if (shortcut is not null) input.Dispose();
        var h = Then(n1, conv1.forward);
        if (time_emb_proj != null && temb is not null)
        {
            using var proj = time_emb_proj.forward(F.silu(temb));
            h = Then(h, x => x + proj.unsqueeze(-1).unsqueeze(-1));
        }
        h = Then(Then(h, x => NormAct(norm2, x)), conv2.forward);
        var output = shortcut is not null ? Then(shortcut, s => s + h)
            : conv_shortcut != null ? Then(conv_shortcut.forward(input), s => s + h) : input + h;
        h.Dispose();
        if (_outputScale != 1.0) output = Then(output, x => x / _outputScale);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>SiLU(GroupNorm(x)); in place when no gradient is recorded.</summary>
    static Tensor NormAct(GroupNorm norm, Tensor x)
    {
        var n = norm.forward(x);
        return is_grad_enabled() ? Then(n, t => F.silu(t)) : n.silu_();
    }

    /// <summary><paramref name="f"/>(<paramref name="x"/>), freeing <paramref name="x"/>'s handle.</summary>
    static Tensor Then(Tensor x, Func<Tensor, Tensor> f)
    {
        var y = f(x);
        if (!ReferenceEquals(y, x)) x.Dispose();
        return y;
    }
}
