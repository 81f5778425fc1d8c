using BrainMClip.Generation.Models;
using BrainMClip.Generation.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>Per-step values a caller may record (parity checks, progress); the tensors are only valid during the
/// callback and belong to its dispose scope (keep with <c>clone().DetachFromDisposeScope()</c>).</summary>
public sealed record DenoiseStep(int Index, long Timestep, Tensor GuidedNoisePred, Tensor LatentsAfterStep);

/// <summary>
/// The Versatile Diffusion image-variation sampling loop: latents → per timestep UNet on [uncond; cond]
/// (classifier-free guidance when the scale is above 1) → scheduler step → VAE decode of latents / scaling_factor →
/// (x/2 + 0.5).clamp(0, 1). Without a VAE (our pixel-space generator) the UNet works on the image itself, which lies in
/// [−1, 1].
/// </summary>
public sealed class ImageVariationPipeline
{
    public UNet2DConditionModel Unet { get; }
    public AutoencoderKL? Vae { get; }
    public IDiffusionScheduler Scheduler { get; }

    public ImageVariationPipeline(UNet2DConditionModel unet, AutoencoderKL? vae, IDiffusionScheduler scheduler)
    {
        if (vae != null && unet.Config.InChannels != vae.Config.LatentChannels)
            throw new UserInputException(
                $"generator: the UNet takes {unet.Config.InChannels} channels but the VAE has " +
                $"{vae.Config.LatentChannels} latent channels");
        if (vae == null && (unet.Config.InChannels != 3 || unet.Config.OutChannels != 3))
            throw new UserInputException(
                $"generator: without a VAE the UNet must be pixel-space (3 in/out channels), but it has " +
                $"{unet.Config.InChannels}/{unet.Config.OutChannels}");
        Unet = unet; Vae = vae; Scheduler = scheduler;
    }

    /// <summary>Image pixels per UNet pixel (8 for SD/VD, 1 for pixel space).</summary>
    public int SpatialFactor => Vae?.Config.SpatialFactor ?? 1;

    public int LatentChannels => Unet.Config.InChannels;

    /// <summary>The native image size: sample_size × spatial factor.</summary>
    public int DefaultImageSize => Unet.Config.SampleSize * SpatialFactor;

    /// <summary>Standard-normal initial latents for a (height × width) image, from a seeded generator (scaled by
    /// init_noise_sigma).</summary>
    public Tensor InitialLatents(long batch, int height, int width, Generator generator)
    {
        int f = SpatialFactor;
        if (height % f != 0 || width % f != 0)
            throw new UserInputException($"image size {height}x{width} must be a multiple of the VAE factor {f}");
        var dtype = ScalarType.Float32;
        var z = randn([batch, LatentChannels, height / f, width / f], dtype: dtype, generator: generator);
        if (Scheduler.InitNoiseSigma != 1.0) z.mul_(Scheduler.InitNoiseSigma);
        return z;
    }

    /// <summary>
    /// Runs the sampling loop. <paramref name="context"/> is (2B, T, D) = [uncond; cond] when <paramref
    /// name="guidance"/> &gt; 1, else (B, T, D) conditional only. Returns the final latents (float32).
    /// </summary>
    public Tensor Denoise(Tensor latents, Tensor context, double guidance, int steps,
        Action<DenoiseStep>? onStep = null,
        Action<int>? onProgress = null)
    {
        bool cfg = guidance > 1.0;
        long b = latents.shape[0];
        if (context.shape[0] != (cfg ? 2 * b : b))
            throw new UserInputException(
                $"context batch {context.shape[0]} does not fit {b} latents " +
                    $"({(cfg ? "guidance needs [uncond; cond]" : "no guidance")})");
        Scheduler.SetTimesteps(steps);
        var x = latents.detach().clone().to_type(ScalarType.Float32).DetachFromDisposeScope();
        var ts = Scheduler.Timesteps;
        try
        {
            for (int i = 0; i < ts.Length; i++)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var input = cfg ? cat([x, x], 0) : x;
                var t = tensor(ts[i], ScalarType.Int64);
                var noise = Unet.Forward(input, t, context).to_type(ScalarType.Float32);
                var guided = cfg ? Guidance.ApplyToBatch(noise, guidance) : noise;
                var next = Scheduler.Step(guided, ts[i], x).PrevSample;
                onStep?.Invoke(new DenoiseStep(i, ts[i], guided, next));
                x.Dispose();
                x = next.DetachFromDisposeScope();
                onProgress?.Invoke(i + 1);
            }
        }
        catch
        {
            x.Dispose();
            throw;
        }
        return x;
    }

    /// <summary>Latents → image in about [−1, 1] (unclamped): VAE decode of latents / scaling_factor, or the latents
    /// themselves.</summary>
    public Tensor Decode(Tensor latents)
    {
        using var noGrad = no_grad();
        if (Vae == null) return latents.clone();
        using var scaled = latents / Vae.Config.ScalingFactor;
        return Vae.Decode(scaled).to_type(ScalarType.Float32);
    }

    /// <summary>The pipeline's post-processing: (x / 2 + 0.5).clamp(0, 1).</summary>
    public static Tensor ToUnitRange(Tensor image)
    {
        using var scope = NewDisposeScope();
        return (image / 2 + 0.5).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One image per conditioning row: <paramref name="cond"/> (B, T, D); <paramref name="uncond"/> defaults to zeros
    /// (MindEye's unconditional context). Returns (B, 3, H, W) in [0, 1].
    /// </summary>
    public Tensor Generate(Tensor cond, Tensor? uncond, double guidance, int steps, Generator generator,
        int? height = null,
        int? width = null, Action<int>? onProgress = null)
    {
        using var scope = NewDisposeScope();
        int h = height ?? DefaultImageSize, w = width ?? DefaultImageSize;
        var latents = InitialLatents(cond.shape[0], h, w, generator).to(cond.device);
        return Sample(cond, uncond, guidance, steps, latents, onProgress).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Several images in one batch, each as this method makes it alone (to the bit where the CPU's kernels round the
    /// same for every batch size, e.g. the demo's generator on Intel; within float32 rounding order elsewhere): row i
    /// of <paramref name="cond"/> (B, T, D) starts from its own noise drawn from <paramref name="generators"/>[i] as
    /// for B = 1, the scheduler step is elementwise, every image is decoded on its own, and the UNet's kernels see
    /// batch sizes for which they were measured batch-invariant (see <see cref="MaxImagesPerCall"/>; a lone unguided
    /// image is run as two rows). MKL's linear layers round differently across row-count boundaries that depend on the
    /// shape and thread count (≤ 8 rows; with 2 threads ≥ 256 rows at 1280 wide), so a large UNet can differ in the
    /// last bits between batch sizes (docs/performance.md, bench gemm_rows_probe). Returns (B, 3, H, W) in [0, 1];
    /// <paramref name="onProgress"/> counts sampling steps.
    /// </summary>
    public Tensor GenerateEach(Tensor cond, IReadOnlyList<Generator> generators, double guidance, int steps,
        Action<int>? onProgress = null)
    {
        if (generators.Count != cond.shape[0])
            throw new ArgumentException($"{generators.Count} generators for {cond.shape[0]} conditioning rows");
        if (cond.shape[0] > MaxImagesPerCall(guidance))
            throw new ArgumentException($"{cond.shape[0]} images per call: at most {MaxImagesPerCall(guidance)} " +
                                        "with this thread count (see MaxImagesPerCall)");
        using var scope = NewDisposeScope();
        int size = DefaultImageSize;
        var latents = cat(generators.Select(g => InitialLatents(1, size, size, g)).ToList(), 0).to(cond.device);
        return Sample(cond, null, guidance, steps, latents, onProgress).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The most images one <see cref="GenerateEach"/> call takes with the current intra-op thread count. libtorch
    /// 2.10 picks a convolution's kernel by batch size: oneDNN for 2+ rows, but with one thread a 1×1 convolution
    /// only from 16 rows on (its own im2col/GEMM below). Results agree to the bit within one regime (measured: batch
    /// 2, 4, 8, 16 rows with 2 threads; 2, 4, 8 rows with 1 thread), not across, so one thread caps the UNet batch at
    /// 15 rows (7 guided images).
    /// </summary>
    public static int MaxImagesPerCall(double guidance) =>
        get_num_threads() > 1 ? int.MaxValue : guidance > 1.0 ? 7 : 15;

    /// <summary>Denoises <paramref name="latents"/> (B rows) with [uncond; cond] contexts and decodes each image
    /// alone.</summary>
    Tensor Sample(Tensor cond, Tensor? uncond, double guidance, int steps, Tensor latents, Action<int>? onProgress)
    {
        using var scope = NewDisposeScope();
        var dtype = ScalarType.Float32;
        long b = cond.shape[0];
        var c = cond.to_type(dtype);
        // A single unguided row would run the UNet at batch 1, where libtorch takes other convolution kernels than
        // for 2+ rows: run it twice so K = 1 and K > 1 take the same kernels.
        bool pad = guidance <= 1.0 && b == 1;
        if (pad) { c = cat([c, c], 0); latents = cat([latents, latents], 0); }
        var context = guidance > 1.0 ? cat([uncond?.to_type(dtype) ?? zeros_like(c), c], 0) : c;
        // Denoise hands back its latents outside every dispose scope.
        using var final = Denoise(latents, context, guidance, steps, onProgress: onProgress);
        var images = Enumerable.Range(0, (int)b).Select(i => Decode(final.narrow(0, i, 1))).ToList();
        return ToUnitRange(cat(images, 0)).MoveToOuterDisposeScope();
    }
}
