using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>The fusion map P: a token-wise Linear(C_D → C_S) applied to every token of e_D (B,T,C_D).</summary>
public sealed class FusionMap : Module<Tensor, Tensor>
{
    readonly Linear map;

    public FusionMap(int detailWidth, int semanticWidth) : base(nameof(FusionMap))
    {
        map = Linear(detailWidth, semanticWidth);
        RegisterComponents();
    }

    public override Tensor forward(Tensor detailTokens) => map.call(detailTokens);
}
