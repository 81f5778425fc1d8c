using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Numerics;

/// <summary>
/// A drop-in for <c>nn.Conv2d</c> (square kernel, zeros padding) whose forward goes through <see cref="ConvKernels"/>
/// along the process's <see cref="ConvPolicy"/> route. Parameters are the fields <c>weight</c> / <c>bias</c>, so the
/// state-dict keys are nn.Conv2d's; they are initialised by a real nn.Conv2d, so initial values and the global RNG
/// sequence are exactly nn.Conv2d's.
/// </summary>
public sealed class RoutedConv2d : nn.Module<Tensor, Tensor>
{
    // Public like nn.Conv2d's weight/bias properties (callers read the dtype); the names are the state-dict keys.
    public readonly Parameter weight;
    public readonly Parameter? bias;
    readonly long _stride, _padding, _groups;
    readonly ConvRoute? _route;

    /// <param name="route">null = the process decision; a value pins this module to one route (tests, bench).</param>
    public RoutedConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0,
        long groups = 1, bool hasBias = true, ConvRoute? route = null) : base(nameof(RoutedConv2d))
    {
        // The throw-away module is built inside a dispose scope: its initialisation returns tensor handles (aliases
        // of its weights) that nothing disposes, and left to the finaliser they kept a second copy of every
        // convolution's weights alive until a GC ran — ~280 MB at the VAE decoder (docs/performance.md).
        Tensor w; Tensor? b = null;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            using var init = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding,
                groups: groups, bias: hasBias);
            w = init.weight!.detach().clone().DetachFromDisposeScope();
            if (hasBias) b = init.bias!.detach().clone().DetachFromDisposeScope();
        }
        weight = new Parameter(w);
        if (b is not null) bias = new Parameter(b);
        _stride = stride; _padding = padding; _groups = groups; _route = route;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.shape[1] != weight.shape[1] * _groups)
            throw new ArgumentException(
                $"conv2d expects (N, {weight.shape[1] * _groups}, H, W) input, got [{string.Join(",", input.shape)}]");
        return ConvKernels.Conv2d(input, weight, bias, _stride, _padding, _groups, _route ?? ConvPolicy.Route);
    }
}
