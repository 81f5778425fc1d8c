using System.Text.Json.Nodes;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.Generation.Training;
using static TorchSharp.torch;

namespace BrainMClip.Bench;

/// <summary>
/// `reconstruct --batch K` (issue 17): the sampling of K images (guidance 3.5, so 2K UNet rows) in one
/// <see cref="ImageVariationPipeline.GenerateEach"/> call, DDIM, random weights. bench/run runs K = 1, 2, 4, 8 as
/// NAME@bK; per_item_ms is the time per image. Every run also checks that image 0 equals the K = 1 image to the bit
/// (and how far apart they are: max |Δ| and the 8-bit values that differ).
/// </summary>
static class ReconstructWorkloads
{
    /// <summary>The demo generator's layout until session 7: pixel UNet 32×32, channels 32/64/64, attention at
    /// 16×16 and 8×8, 65×64 context, 12 steps.</summary>
    public static Workload Pixel(int k) =>
        Sample(PixelGeneratorTrainer.SmallConfig(32, 64), 65, k, 12, "demo pixel UNet 32x32, 65x64 context");

    /// <summary>
    /// The Versatile Diffusion image UNet's layout (320/640/1280/1280, 2 layers, 8 heads, 257×768 context) on a
    /// 16×16 sample with 3 channels (pixel pipeline, no VAE: the VAE decode is per image at any K), 2 steps.
    /// </summary>
    public static Workload VdSmall(int k)
    {
        var c = UNetBenchmark.VersatileDiffusionImageUnet;
        var cfg = c with { SampleSize = 16, InChannels = 3, OutChannels = 3 };
        return Sample(cfg, 257, k, 2, "VD UNet layout at 16x16x3, 257x768 context");
    }

    /// <summary>The Versatile Diffusion image UNet at its real 64×64 sample (3 channels, no VAE), 1 step: K = 1 vs
    /// K = 2 at the real token counts (the smallest attention level has 8×8 tokens).</summary>
    public static Workload VdFull(int k)
    {
        var cfg = UNetBenchmark.VersatileDiffusionImageUnet with { InChannels = 3, OutChannels = 3 };
        return Sample(cfg, 257, k, 1, "VD UNet layout at 64x64x3, 257x768 context");
    }

    static Workload Sample(UNet2DConditionConfig cfg, long tokens, int k, int steps, string what)
    {
        manual_seed(0);
        var unet = new UNet2DConditionModel(cfg);
        unet.eval();
        var pipe = new ImageVariationPipeline(unet, null, new DDIMScheduler(SchedulerConfig.StableDiffusion));
        var cond = randn(k, tokens, cfg.CrossAttentionDim);
        Tensor Run(int n) => pipe.GenerateEach(cond.narrow(0, 0, n),
            Enumerable.Range(0, n).Select(i => new Generator((ulong)(100 + i))).ToList(), 3.5, steps);
        var reference = k > 1 ? Run(1) : null;
        var info = new JsonObject
        {
            ["batch"] = k,
            ["per"] = (double)k,
            ["steps"] = steps,
            ["guidance"] = 3.5,
            ["unet_rows"] = 2 * k,
            ["model"] = what,
            ["parameters"] = unet.parameters().Sum(p => p.numel()),
        };
        void Step()
        {
            using var scope = NewDisposeScope();
            var images = Run(k);
            if (reference is null) return;
            info["identical_to_b1"] = images[0].equal(reference[0]).all().item<bool>();
            info["max_abs_diff_to_b1"] = (images[0] - reference[0]).abs().max().item<float>();
            // What a PNG would show: the 8-bit values reconstruct writes (Reconstruction.ToRgb).
            var a = Reconstruction.ToRgb(images[0]).Pixels;
            var b = Reconstruction.ToRgb(reference[0]).Pixels;
            info["png_bytes_differing_from_b1"] = a.Zip(b).Count(p => p.First != p.Second);
        }
        return new Workload(Step, unet, info);
    }
}
