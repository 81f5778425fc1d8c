using System.Diagnostics;
using BrainMClip.Generation.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>Timing of UNet steps for a model shape (random weights), to estimate time per image before a real
/// run.</summary>
public sealed record UNetBenchmarkResult(
    long Parameters, double BuildSeconds, double[] StepSeconds, double[] StepCpuSeconds, long Batch, string DType,
        int? AttentionSlice, long PeakRssMB)
{
    /// <summary>Median step time (the first step includes one-off allocation costs).</summary>
    public double MedianStep => StepSeconds.Order().ElementAt(StepSeconds.Length / 2);
    /// <summary>Median CPU seconds per step (all threads): on a machine shared with other jobs this, divided by the
    /// cores, estimates the idle wall time.</summary>
    public double MedianStepCpu => StepCpuSeconds.Order().ElementAt(StepCpuSeconds.Length / 2);

    /// <summary>Estimated seconds per image for <paramref name="steps"/> sampling steps (UNet only; the VAE decode is
    /// extra).</summary>
    public double PerImage(int steps) => MedianStep * steps;
}

public static class UNetBenchmark
{
    /// <summary>The Versatile Diffusion image UNet shape (docs/generation.md): SD-1.x layout, channels
    /// 320/640/1280/1280, 2 layers per block, cross-attention 768, 8 heads.</summary>
    public static UNet2DConditionConfig VersatileDiffusionImageUnet => new()
    {
        SampleSize = 64,
        InChannels = 4,
        OutChannels = 4,
        BlockOutChannels = [320, 640, 1280, 1280],
        LayersPerBlock = [2, 2, 2, 2],
        TransformerLayersPerBlock = [1, 1, 1, 1],
        NumAttentionHeads = [8, 8, 8, 8],
        CrossAttentionDim = 768,
        NormNumGroups = 32,
    };

    /// <summary>Linux: resets VmHWM so the peak covers the sampling steps, not model construction (writes "5" to
    /// clear_refs).</summary>
    static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The process's peak resident set (VmHWM) in MB; the current working set where /proc is
    /// unavailable.</summary>
    static long PeakRssMB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        }
        catch (IOException) { }
        return Environment.WorkingSet / (1 << 20);
    }

    /// <param name="batch">2 = one image with classifier-free guidance ([uncond; cond]).</param>
    public static UNetBenchmarkResult Run(UNet2DConditionConfig cfg, int latentHeight, int latentWidth, int tokens,
        int steps,
        long batch, ScalarType dtype, int? attentionSlice, TextWriter? log = null)
    {
        log ??= Console.Error;
        var clock = Stopwatch.StartNew();
        manual_seed(0);
        using var unet = new UNet2DConditionModel(cfg);
        if (dtype != ScalarType.Float32) unet.to(dtype);
        unet.eval();
        unet.SetAttentionSlicing(attentionSlice);
        long parameters = unet.parameters().Sum(p => p.numel());
        double build = clock.Elapsed.TotalSeconds;
        log.WriteLine($"bench: built UNet with {parameters:N0} parameters in {build:0.0}s");
        ResetPeakRss();
        var times = new double[steps];
        var cpuTimes = new double[steps];
        long peak = 0;
        using var noGrad = no_grad();
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(batch, cfg.InChannels, latentHeight, latentWidth);
            var ctx = randn(batch, tokens, cfg.CrossAttentionDim);
            var t = tensor(new long[] { 981 - 50 * i });
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var y = unet.Forward(x, t, ctx);
            _ = y.sum().to_type(ScalarType.Float32).item<float>();
            times[i] = sw.Elapsed.TotalSeconds;
            cpuTimes[i] = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            peak = Math.Max(peak, PeakRssMB());
            log.WriteLine(
                $"bench: step {i + 1}/{steps}: {times[i]:0.00}s wall, {cpuTimes[i]:0.00}s CPU (peak RSS {peak} MB)");
        }
        return new UNetBenchmarkResult(parameters, build, times, cpuTimes, batch, dtype.ToString(), attentionSlice,
            peak);
    }

    /// <summary>The SD-1.x / VD VAE shape: channels 128/256/512/512, 2 layers per block, latent 4, scaling
    /// 0.18215.</summary>
    public static AutoencoderKLConfig StableDiffusionVae => new()
    {
        BlockOutChannels = [128, 256, 512, 512],
        LayersPerBlock = 2,
        LatentChannels = 4,
        NormNumGroups = 32,
        ScalingFactor = 0.18215,
    };

    /// <summary>Times one VAE decode of (1, 4, h, w) latents with random weights; returns (wall s, CPU s, peak RSS
    /// MB).</summary>
    public static (double Wall, double Cpu, long PeakRssMB) TimeVaeDecode(AutoencoderKLConfig cfg, int latentHeight,
        int latentWidth,
        ScalarType dtype, TextWriter? log = null)
    {
        log ??= Console.Error;
        manual_seed(0);
        using var vae = new AutoencoderKL(cfg);
        if (dtype != ScalarType.Float32) vae.to(dtype);
        vae.eval();
        ResetPeakRss();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var z = randn(1, cfg.LatentChannels, latentHeight, latentWidth);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var image = vae.Decode(z);
        _ = image.sum().to_type(ScalarType.Float32).item<float>();
        double wall = sw.Elapsed.TotalSeconds,
            cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        long peak = PeakRssMB();
        log.WriteLine(
            $"bench: VAE decode to [{string.Join(",", image.shape)}]: {wall:0.00}s wall, {cpu:0.00}s CPU (peak RSS " +
            $"{peak} MB)");
        return (wall, cpu, peak);
    }
}
