using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Numerics;

/// <summary>One probe convolution: 3×3, padding 1, batch 2, 16×16, in <paramref name="Dtype"/>.</summary>
public sealed record ConvProbeCase(string Name, long In, long Out, ScalarType Dtype)
{
    /// <summary>
    /// The measured fault class of issue 12: forward 3×3 with input-channel tails (17/20/24/40; the UNet's up-block
    /// conv1 on cat([h, skip]) = 24), backward-data with 3 output channels (the pixel UNet's conv_out 32→3), and
    /// oneDNN's bf16 kernel with 4 output channels. Gradients are checked for every float32 case.
    /// </summary>
    public static readonly IReadOnlyList<ConvProbeCase> FaultClass =
    [
        new("conv3x3 17->16", 17, 16, ScalarType.Float32), new("conv3x3 20->16", 20, 16, ScalarType.Float32),
        new("conv3x3 24->16", 24, 16, ScalarType.Float32), new("conv3x3 40->16", 40, 16, ScalarType.Float32),
        new("conv3x3 32->3", 32, 3, ScalarType.Float32), new("conv3x3 bf16 32->4", 32, 4, ScalarType.BFloat16),
    ];

    /// <summary>Allowed max |error| / max |reference|: float32 accumulation ~1e-6; bf16 rounding ~4e-3.</summary>
    public double Tolerance => Dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
}

/// <summary>A probe case's worst relative error (∞ for NaN/Inf) over forward and, for float32, the gradients.</summary>
public sealed record ConvProbeResult(string Name, ScalarType Dtype, double Error, double Tolerance)
{
    public bool Pass => Error <= Tolerance;
}

/// <summary>All probe cases along one route, and the wall time they took.</summary>
public sealed record ConvProbeReport(ConvRoute Route, IReadOnlyList<ConvProbeResult> Results, double Milliseconds)
{
    public bool Pass => Results.All(r => r.Pass);
    public double WorstError => Results.Max(r => r.Error);

    /// <summary>"f32 1.0e-6, bf16 2.4e-3": the worst error per dtype (their tolerances differ by 200×).</summary>
    public string WorstByDtype => string.Join(", ", Results.GroupBy(r => r.Dtype).Select(g =>
        $"{(g.Key == ScalarType.Float32 ? "f32" : g.Key == ScalarType.BFloat16 ? "bf16" : "fp16")} " +
        ConvPolicy.Fmt(g.Max(r => r.Error))));
}

/// <summary>
/// Runs convolutions through <see cref="ConvKernels"/> and compares them with a float64 computation (libtorch never
/// sends float64 convolutions to oneDNN). Uses its own random generator, so probing never shifts the global seed.
/// </summary>
public static class ConvProbe
{
    /// <summary>Every case twice (thread scheduling changes which rows a faulty kernel gets wrong).</summary>
    public static ConvProbeReport Run(ConvRoute route, IReadOnlyList<ConvProbeCase>? cases = null, int repeats = 2)
    {
        cases ??= ConvProbeCase.FaultClass;
        var clock = Stopwatch.StartNew();
        using var grad = enable_grad();
        using var gen = new Generator(12);
        var results = cases.Select(c => new ConvProbeResult(c.Name, c.Dtype,
            Enumerable.Range(0, repeats).Max(_ => CaseError(c, route, gen)), c.Tolerance)).ToList();
        return new ConvProbeReport(route, results, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Worst relative error of one random instance of <paramref name="c"/>.</summary>
    public static double CaseError(ConvProbeCase c, ConvRoute route, Generator gen) => CaseError(c, route, gen, null);

    /// <summary>
    /// <see cref="CaseError(ConvProbeCase, ConvRoute, Generator)"/> with the low-precision convolution on
    /// <paramref name="device"/> (a non-CPU device computes with its own kernels; <paramref name="route"/> is then
    /// unused). Inputs are drawn on the CPU and the float64 reference stays there.
    /// </summary>
    public static double CaseError(ConvProbeCase c, ConvRoute route, Generator gen, Device? device)
    {
        bool cpu = TorchSetup.IsCpu(device);
        using var scope = NewDisposeScope();
        var x64 = randn([2, c.In, 16, 16], dtype: ScalarType.Float64, generator: gen);
        var w64 = randn([c.Out, c.In, 3, 3], dtype: ScalarType.Float64, generator: gen) / Math.Sqrt(9.0 * c.In);
        var b64 = randn([c.Out], dtype: ScalarType.Float64, generator: gen) * 0.1;
        var g64 = randn([2, c.Out, 16, 16], dtype: ScalarType.Float64, generator: gen);
        // The reference uses the values the low-precision run sees (bf16-rounded inputs), computed in float64.
        var x = (cpu ? x64.to_type(c.Dtype) : x64.to_type(c.Dtype).to(device!)).requires_grad_();
        var w = (cpu ? w64.to_type(c.Dtype) : w64.to_type(c.Dtype).to(device!)).requires_grad_();
        var b = cpu ? b64.to_type(c.Dtype) : b64.to_type(c.Dtype).to(device!);
        var xr = x.detach().to_type(ScalarType.Float64).cpu().requires_grad_();
        var wr = w.detach().to_type(ScalarType.Float64).cpu().requires_grad_();
        var yr = F.conv2d(xr, wr, b.to_type(ScalarType.Float64).cpu(), padding: [1]);
        var y = cpu ? ConvKernels.Conv2d(x, w, b, 1, 1, 1, route) : F.conv2d(x, w, b, padding: [1]);
        double err = RelError(y, yr);
        if (c.Dtype != ScalarType.Float32) return err;
        (y * g64.to_type(c.Dtype).to(y.device)).sum().backward();
        (yr * g64).sum().backward();
        return Math.Max(err, Math.Max(RelError(x.grad!, xr.grad!), RelError(w.grad!, wr.grad!)));
    }

    /// <summary>max |a − ref| / max |ref|; +∞ when <paramref name="a"/> holds NaN or Inf.</summary>
    public static double RelError(Tensor a, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var a64 = a.detach().to_type(ScalarType.Float64).cpu();
        if (!a64.isfinite().all().item<bool>()) return double.PositiveInfinity;
        var r = reference.detach();
        double scale = Math.Max(r.abs().max().item<double>(), 1e-30);
        return (a64 - r).abs().max().item<double>() / scale;
    }
}
