using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Features;

// Mirrors Hugging Face's CLIP vision class of the same name; the field names are the state-dict keys
// (e.g. vision_model.encoder.layers.3.self_attn.q_proj.weight), so a checkpoint maps onto it one to one.

internal sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1, fc2;
    readonly string _act;

    public ClipMlp(ClipVisionConfig c) : base(nameof(ClipMlp))
    {
        _act = c.HiddenAct;
        fc1 = nn.Linear(c.HiddenSize, c.IntermediateSize);
        fc2 = nn.Linear(c.IntermediateSize, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = fc1.call(x);
        h = _act switch
        {
            "quick_gelu" => h * sigmoid(h * 1.702),
            "gelu" => F.gelu(h),
            _ => F.gelu(h, GELU.Approximate.tanh), // gelu_new, gelu_pytorch_tanh
        };
        return fc2.call(h);
    }
}
