using System.Diagnostics;
using System.Text.Json.Nodes;
using BrainMClip.Numerics;
using static TorchSharp.torch;

namespace BrainMClip.Bench;

/// <summary>
/// Issue 12's cost figures (BrainMClip side only): the convolution probe, and the channel-tail convolutions of the
/// pixel UNet along the process's route (bench/run sets BRAINMCLIP_CONV_ROUTE per run).
/// </summary>
static class ConvWorkloads
{
    /// <summary>
    /// What `auto` costs a process: the full decision (probe of oneDNN; on an affected CPU also the fallback routes'
    /// probes). Each step decides afresh; cold_ms is the first decision of the process (kernel set-up included).
    /// </summary>
    public static Workload Probe()
    {
        var sw = Stopwatch.StartNew();
        var first = ConvPolicy.Decide("auto", null);
        double cold = sw.Elapsed.TotalMilliseconds;
        void Step() => ConvPolicy.Decide("auto", null);
        return new Workload(Step, null, new JsonObject
        {
            ["cold_ms"] = cold,
            ["decided_route"] = first.Route.ToString(),
            ["probe_runs"] = first.Probes.Count,
            ["reason"] = first.Reason,
        });
    }

    /// <summary>
    /// Forward + backward of the pixel UNet's tail convolutions at batch 16, 32×32: conv_in 3→32, an up-block conv1
    /// on 24 concatenated channels (24→16) and conv_out 32→3, along <see cref="ConvPolicy.Route"/>.
    /// </summary>
    public static Workload TailLayers()
    {
        manual_seed(0);
        var convs = new[] { new RoutedConv2d(3, 32, 3, padding: 1), new RoutedConv2d(24, 16, 3, padding: 1),
            new RoutedConv2d(32, 3, 3, padding: 1) };
        var inputs = new[] { randn(16, 3, 32, 32), randn(16, 24, 32, 32), randn(16, 32, 32, 32) };
        foreach (var x in inputs) x.requires_grad_();
        void Step()
        {
            using var scope = NewDisposeScope();
            for (int i = 0; i < convs.Length; i++)
            {
                inputs[i].grad?.zero_();
                convs[i].zero_grad();
                convs[i].forward(inputs[i]).square().mean().backward();
            }
        }
        var owners = convs.Cast<IDisposable>().Concat(inputs).ToArray();
        return new Workload(Step, new Disposer(owners), new JsonObject
        {
            ["route"] = ConvPolicy.Route.ToString(),
            ["batch"] = 16,
            ["shapes"] = "3->32, 24->16, 32->3 (3x3, 32x32)",
        });
    }

    /// <summary>
    /// The VAE decoder's largest convolution alone (issue 17's VAE memory question): conv1 of the last up block's
    /// first resnet, 256→128 channels, 3×3, at 512², no_grad, along the process's route. With --phases the peak RSS
    /// inside the call shows the convolution's own workspace above its input (256 MB), output (128 MB) and weights.
    /// </summary>
    public static Workload VaeConv512(StepPhases trace)
    {
        manual_seed(0);
        var conv = new RoutedConv2d(256, 128, 3, padding: 1);
        var x = randn(1, 256, 512, 512);
        void Step()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            trace.Start();
            var y = conv.forward(x);
            trace.Mark("conv");
            y.Dispose();
            trace.Mark("after");
        }
        return new Workload(Step, new Disposer([conv, x]), new JsonObject
        { ["route"] = ConvPolicy.Route.ToString(), ["shapes"] = "1x256x512x512 -> 128, 3x3" });
    }

    sealed class Disposer(IDisposable[] items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }
}
