using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>Inverted dropout drawing its mask from <see cref="DropoutRng"/> (same distribution as
/// nn.Dropout).</summary>
public sealed class SeededDropout : Module<Tensor, Tensor>
{
    readonly double _p;
    readonly DropoutRng _rng;

    public SeededDropout(double p, DropoutRng rng) : base(nameof(SeededDropout))
    {
        _p = p; _rng = rng;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || _p == 0) return x.alias();
        using var scope = NewDisposeScope();
        // The run's generator is a CPU generator (its state travels in the checkpoints): draw there, then move, so the
        // mask is the same on every device.
        var keep = rand(x.shape, generator: _rng.Generator, dtype: x.dtype).to(x.device).ge(_p);
        return (x * keep / (1 - _p)).MoveToOuterDisposeScope();
    }
}
