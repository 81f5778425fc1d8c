using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>Decoder D: latent b (B,H) → voxels (B,N): Linear(H→H)+LayerNorm+GELU+Linear(H→N).</summary>
public sealed class StreamDecoder : Module<Tensor, Tensor>
{
    readonly Linear hidden;
    readonly LayerNorm norm;
    readonly GELU act;
    readonly Linear output;

    public StreamDecoder(int hiddenSize, int voxels) : base(nameof(StreamDecoder))
    {
        hidden = Linear(hiddenSize, hiddenSize);
        norm = LayerNorm(hiddenSize);
        act = GELU();
        output = Linear(hiddenSize, voxels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor b)
    {
        using var scope = NewDisposeScope();
        return output.call(act.call(norm.call(hidden.call(b)))).MoveToOuterDisposeScope();
    }
}
