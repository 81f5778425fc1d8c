using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Numerics;

/// <summary>One self-check: relative error against float64, its tolerance, whether it counts for the verdict.</summary>
/// <param name="Counted">false for figures shown for information (oneDNN as is when another route is used).</param>
public sealed record NumericCheck(string Name, double Error, double Tolerance, bool Counted = true)
{
    public bool Pass => Error <= Tolerance;
}

/// <summary>
/// The numerical self-checks of <c>brainmclip doctor</c>: the operations the project relies on, in the dtypes it uses,
/// each against the same operation in float64 on the same (rounded) inputs. Seeded; never touches the global RNG.
/// </summary>
public static class NumericsSelfTest
{
    /// <summary>Half-precision convolution shapes beyond the probe's (fp16, and a bf16 input-channel tail).</summary>
    static readonly ConvProbeCase[] HalfConvCases =
    [
        new("conv3x3 fp16 32->4", 32, 4, ScalarType.Float16), new("conv3x3 bf16 24->16", 24, 16, ScalarType.BFloat16),
    ];

    /// <summary>
    /// Every check; with a non-CPU <paramref name="device"/> the checked operations run there (convolutions with the
    /// device's own kernels, so the CPU routes and the oneDNN figures do not apply), against float64 on the CPU.
    /// </summary>
    public static IReadOnlyList<NumericCheck> Run(ConvRoute route, Device? device = null)
    {
        using var grad = enable_grad();
        using var gen = new Generator(21);
        bool cpu = TorchSetup.IsCpu(device);
        string where = cpu ? route.ToString() : device!.ToString();
        var checks = new List<NumericCheck>();
        foreach (var c in ConvProbeCase.FaultClass.Concat(HalfConvCases))
            checks.Add(new($"{c.Name} ({where})", ConvProbe.CaseError(c, route, gen, device), c.Tolerance));
        if (cpu && route != ConvRoute.OneDnn) checks.AddRange(OneDnnAsIs(gen));
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16 })
            checks.AddRange(Operations(dtype, gen, device ?? CPU));
        return checks;
    }

    /// <summary>The raw oneDNN figures, for information, when the process computes convolutions another way.</summary>
    static IEnumerable<NumericCheck> OneDnnAsIs(Generator gen)
    {
        bool was = LibTorchContext.OneDnnEnabled;
        LibTorchContext.OneDnnEnabled = true;
        try
        {
            return ConvProbeCase.FaultClass.Select(c => new NumericCheck($"{c.Name} (oneDNN as is, not used)",
                ConvProbe.CaseError(c, ConvRoute.OneDnn, gen), c.Tolerance, Counted: false)).ToList();
        }
        finally { LibTorchContext.OneDnnEnabled = was; }
    }

    static IEnumerable<NumericCheck> Operations(ScalarType dtype, Generator gen, Device device)
    {
        string d = dtype switch { ScalarType.Float32 => "f32", ScalarType.BFloat16 => "bf16", _ => "fp16" };
        double tol = dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
        yield return Compare($"matmul {d} (linear 64x256 @ 256x128)", dtype, tol, gen, device,
            [[64, 256], [128, 256], [128]],
            t => F.linear(t[0], t[1], t[2]));
        yield return Compare($"scaled-dot-product attention {d}", dtype, tol, gen, device,
            [[2, 4, 64, 16], [2, 4, 77, 16], [2, 4, 77, 16]],
            t => t[0].dtype == ScalarType.Float64 ? ManualAttention(t[0], t[1], t[2])
                : F.scaled_dot_product_attention(t[0], t[1], t[2]));
        // CLIP's patch embedding (3 input channels, stride = kernel) is an nn.Conv2d outside the routed modules.
        yield return Compare($"conv patch-embedding {d} (3->64, 16x16 stride 16, not routed)", dtype, tol, gen,
            device,
            [[2, 3, 64, 64], [64, 3, 16, 16]], t => F.conv2d(t[0], t[1], strides: [16]));
        yield return Compare($"groupnorm {d} (32 ch, 8 groups)", dtype, tol, gen, device, [[2, 32, 8, 8], [32], [32]],
            t => F.group_norm(t[0], 8, t[1], t[2], 1e-5));
        yield return Compare($"layernorm {d} (64)", dtype, tol, gen, device, [[4, 16, 64], [64], [64]],
            t => F.layer_norm(t[0], [64], t[1], t[2], 1e-5));
    }

    static Tensor ManualAttention(Tensor q, Tensor k, Tensor v) =>
        matmul((matmul(q, k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1])).softmax(-1), v);

    /// <summary>
    /// <paramref name="op"/> on random inputs rounded to <paramref name="dtype"/>, against <paramref name="op"/> on the
    /// same rounded values in float64.
    /// </summary>
    static NumericCheck Compare(string name, ScalarType dtype, double tol, Generator gen, Device device,
        long[][] shapes, Func<Tensor[], Tensor> op)
    {
        using var scope = NewDisposeScope();
        var low = shapes.Select(s => randn(s, dtype: ScalarType.Float64, generator: gen).to_type(dtype)).ToArray();
        var reference = op(low.Select(t => t.to_type(ScalarType.Float64)).ToArray());
        var onDevice = TorchSetup.IsCpu(device) ? low : low.Select(t => t.to(device)).ToArray();
        return new NumericCheck(name, ConvProbe.RelError(op(onDevice), reference), tol);
    }
}
