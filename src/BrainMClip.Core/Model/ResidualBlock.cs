using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>One residual MLP block: x + Dropout(GELU(LayerNorm(Linear(x)))).</summary>
public sealed class ResidualBlock : Module<Tensor, Tensor>
{
    readonly Linear linear;
    readonly LayerNorm norm;
    readonly GELU act;
    readonly SeededDropout drop;

    public ResidualBlock(int hidden, double dropout, DropoutRng rng) : base(nameof(ResidualBlock))
    {
        linear = Linear(hidden, hidden);
        norm = LayerNorm(hidden);
        act = GELU();
        drop = new SeededDropout(dropout, rng);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (x + drop.call(act.call(norm.call(linear.call(x))))).MoveToOuterDisposeScope();
    }
}
