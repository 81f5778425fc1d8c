using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Generation.Models;

/// <summary>diffusers GEGLU: <c>proj</c> to 2×inner, hidden · gelu(gate) with exact (erf) GELU.</summary>
public sealed class GEGLU : nn.Module<Tensor, Tensor>
{
    readonly Linear proj;

    public GEGLU(long dimIn, long dimOut) : base(nameof(GEGLU))
    {
        proj = nn.Linear(dimIn, dimOut * 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var parts = proj.forward(x).chunk(2, -1);
        return (parts[0] * F.gelu(parts[1])).MoveToOuterDisposeScope();
    }
}
