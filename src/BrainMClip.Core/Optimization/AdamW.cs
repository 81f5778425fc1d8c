using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// TorchSharp's AdamW update, the same arithmetic in the same order (bit-identical parameters and moments, tested in
/// LeanAdamWTests), with each parameter's temporaries freed right after its update. TorchSharp 0.107's
/// <c>AdamW.step</c> runs all parameters inside one dispose scope, so every parameter's denominator
/// (√v̂ and its scaled copy: two parameter-sized tensors) stays alive until the whole step ends — 1.5 GB at the paper
/// preset's 193.6 M parameters, the peak of a training step (docs/performance.md). Here the scaling and ε run in place
/// on √v̂ and a scope per parameter frees it, so the step needs one temporary of the largest parameter's size.
/// State, options and their serialisation are the base class's. The class is named AdamW on purpose:
/// <c>save_state_dict</c> writes the optimiser's type name and <c>load_state_dict</c> refuses another, so this name
/// keeps checkpoints readable by and from runs made with TorchSharp's AdamW.
/// </summary>
public sealed class AdamW : TorchSharp.Modules.AdamW
{
    public AdamW(IEnumerable<ParamGroup> groups, double lr, double weightDecay)
        : base(groups, lr: lr, weight_decay: weightDecay) { }

    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
            using (enable_grad()) loss = closure();
        using (no_grad())
            foreach (var group in _parameter_groups) Update((ParamGroup)group);
        return loss!;
    }

    void Update(ParamGroup group)
    {
        var o = group.Options;
        double beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, weightDecay = o.weight_decay!.Value;
        double eps = o.eps!.Value, lr = o.LearningRate!.Value;
        bool amsgrad = o.amsgrad!.Value, maximize = o.maximize!.Value;
        foreach (var param in group.Parameters)
        {
            using var scope = NewDisposeScope();
            var state = (State)_state[param.Handle];
            var grad = param.grad;
            if (grad is null) continue;
            if (maximize) grad = -grad;
            state.step++;
            param.mul_(1 - lr * weightDecay);
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(beta1).add_(grad, alpha: 1 - beta1);
            state.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value: 1 - beta2);
            Tensor second = state.exp_avg_sq;
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                second = state.max_exp_avg_sq;
            }
            var denom = second.sqrt().div_(Math.Sqrt(biasCorrection2)).add_(eps);
            param.addcdiv_(state.exp_avg, denom, value: 0.0 - lr / biasCorrection1);
        }
    }
}
