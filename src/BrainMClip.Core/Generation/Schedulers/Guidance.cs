using static TorchSharp.torch;

namespace BrainMClip.Generation.Schedulers;

/// <summary>Classifier-free guidance as in the Versatile Diffusion pipeline: ε = ε_u + g·(ε_c − ε_u).</summary>
public static class Guidance
{
    public static Tensor Apply(Tensor uncond, Tensor cond, double scale)
    {
        using var scope = NewDisposeScope();
        return (uncond + (cond - uncond) * scale).MoveToOuterDisposeScope();
    }

    /// <summary>Splits a batch [uncond; cond] in halves and guides.</summary>
    public static Tensor ApplyToBatch(Tensor noisePred, double scale)
    {
        var halves = noisePred.chunk(2, 0);
        try { return Apply(halves[0], halves[1], scale); }
        finally { foreach (var h in halves) h.Dispose(); }
    }
}
