using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// PyTorch's default initialisation, drawn from a run's own generator instead of the process-wide one: the training
/// loop's trainers never call <c>manual_seed</c>, so runs stay reproducible while other code (or a parallel test)
/// draws random numbers. The draws replay what the module constructors did, in the same order and with the same
/// bounds, so <c>Default(m, new Generator(s))</c> equals <c>manual_seed(s)</c> before constructing <c>m</c>
/// (ModuleInitTests) — that keeps runs made before the loop reproducible.
/// </summary>
public static class ModuleInit
{
    /// <summary>
    /// Every module depth-first in registration order: weights of two or more dimensions (linear, convolution) ~
    /// kaiming-uniform with a = √5 and their biases ~ U(±1/√fan_in); embeddings ~ N(0, 1); norm weights 1 and biases
    /// 0. Other parameters (a class embedding, a logit scale) keep the values their module set.
    /// </summary>
    public static void Default(nn.Module module, Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var m in PreOrder(module))
        {
            using var scope = NewDisposeScope();
            var own = m.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter);
            if (!own.TryGetValue("weight", out var w)) continue;
            if (m is Embedding) { w.copy_(randn(w.shape, generator: generator)); continue; }
            if (w.dim() < 2)
            {
                w.fill_(1);
                own.GetValueOrDefault("bias")?.zero_();
                continue;
            }
            long fanIn = w.shape[1];
            for (int d = 2; d < w.dim(); d++) fanIn *= w.shape[d];
            // torch.nn.init.kaiming_uniform_(a=√5): gain √(2/(1+a²)), bound √3·gain/√fan_in, in this order.
            double gain = Math.Sqrt(2.0 / (1 + Math.Pow(Math.Sqrt(5), 2)));
            double bound = Math.Sqrt(3.0) * (gain / Math.Sqrt(fanIn));
            Uniform(w, bound, generator);
            if (own.GetValueOrDefault("bias") is { } b)
            {
                double bb = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
                Uniform(b, bb, generator);
            }
        }
    }

    /// <summary>Depth-first, children in registration order: the order the constructors ran in (TorchSharp's
    /// <c>modules()</c> is breadth-first).</summary>
    static IEnumerable<nn.Module> PreOrder(nn.Module m)
    {
        yield return m;
        foreach (var (_, child) in m.named_children())
            foreach (var d in PreOrder(child)) yield return d;
    }

    /// <summary>
    /// U(−bound, bound) as libtorch's <c>uniform_</c> computes it for float tensors: the bounds rounded to float, a
    /// float draw u in [0, 1), then from + u·(to − from) in double, rounded to float once (ModuleInitTests).
    /// </summary>
    static void Uniform(Tensor t, double bound, Generator generator)
    {
        float from = (float)-bound, to = (float)bound;
        var u = rand(t.shape, generator: generator).to_type(ScalarType.Float64);
        t.copy_((u * (double)(to - from) + (double)from).to_type(t.dtype));
    }
}
