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
/// (classifier-free
/// guidance when the scale is above 1) → scheduler step → VAE decode of latents / scaling_factor → (x/2 + 0.5).clamp(0,
/// 1).
/// Without a VAE (our pixel-space generator) the UNet works on the image itself, which lies in [−1, 1].
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
    /// name="guidance"/> &gt; 1,
    /// else (B, T, D) conditional only. Returns the final latents (float32).
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
        var dtype = ScalarType.Float32;
        var c = cond.to_type(dtype);
        var context = guidance > 1.0 ? cat([uncond?.to_type(dtype) ?? zeros_like(c), c], 0) : c;
        var latents = InitialLatents(cond.shape[0], h, w, generator).to(c.device);
        var final = Denoise(latents, context, guidance, steps, onProgress: onProgress);
        var image = Decode(final);
        final.Dispose();
        return ToUnitRange(image).MoveToOuterDisposeScope();
    }
}
