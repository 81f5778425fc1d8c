using System.CommandLine;
using System.Text.Json;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip generator bench`: time UNet steps of a model shape with random weights.</summary>
public sealed class GeneratorBenchCommand : ICliCommand
{
    public string[] Path => ["generator", "bench"];
    public string Description =>
        "Time UNet steps for a model shape with random weights (default: the Versatile Diffusion 512x512 image UNet, " +
        "64x64 latents, 257 context tokens, batch 2 = one image with guidance) and extrapolate seconds per image.";

    public void Configure(Command command)
    {
        var config = new Option<string?>("--config")
        { Description = "A diffusers UNet config.json (default: the VD image UNet shape)." };
        var latent = new Option<int>("--latent")
        { Description = "Latent height = width.", DefaultValueFactory = _ => 64 };
        var tokens = new Option<int>("--tokens")
        { Description = "Context tokens (257 for CLIP ViT-L/14 image tokens).", DefaultValueFactory = _ => 257 };
        var steps = new Option<int>("--steps")
        { Description = "UNet steps to time (0 with --vae: only the VAE decode).", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch")
        { Description = "UNet batch (2 = one image with classifier-free guidance).", DefaultValueFactory = _ => 2 };
        var dtype = new Option<string>("--dtype")
        { Description = "float32, bfloat16 or float16.", DefaultValueFactory = _ => "float32" };
        var slice = new Option<int?>("--attention-slice")
        { Description = "Attention slice size in (batch x head) rows." };
        var vae = new Option<bool>("--vae")
        {
            Description = "Also time one decode with the SD/VD VAE shape (128/256/512/512) to a (8 x latent) " +
            "image."
        };
        var device = SharedOptions.Device();
        foreach (var o in new Option[] { config, latent, tokens, steps, batch, dtype, slice, vae, device })
            command.Options.Add(o);
        command.SetAction(r =>
        {
            var dev = SharedOptions.GetDevice(r, device);
            var cfgPath = r.GetValue(config);
            var cfg = cfgPath == null ? UNetBenchmark.VersatileDiffusionImageUnet : UNet2DConditionConfig.Load(cfgPath);
            int n = r.GetValue(steps);
            if (n < 0
                || (n == 0 && !r.GetValue(vae))) throw new UserInputException(
                $"--steps {n}: expected at least 1 (0 only with --vae)");
            var dt = Reconstruction.ParseDType(r.GetValue(dtype)!);
            (double Wall, double Cpu, long PeakRssMB)? vaeTime = r.GetValue(vae)
                ? UNetBenchmark.TimeVaeDecode(UNetBenchmark.StableDiffusionVae, r.GetValue(latent), r.GetValue(latent),
                    dt, device: dev)
                : null;
            if (n == 0)
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    dtype = dt.ToString(),
                    vae_decode_seconds = Math.Round(vaeTime!.Value.Wall, 2),
                    vae_decode_cpu_seconds = Math.Round(vaeTime.Value.Cpu, 2),
                    vae_decode_peak_rss_mb = vaeTime.Value.PeakRssMB,
                    threads = TorchSharp.torch.get_num_threads(),
                }, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var res = UNetBenchmark.Run(cfg, r.GetValue(latent), r.GetValue(latent), r.GetValue(tokens), n,
                r.GetValue(batch),
                dt, r.GetValue(slice), device: dev);
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                parameters = res.Parameters,
                build_seconds = Math.Round(res.BuildSeconds, 2),
                step_seconds = res.StepSeconds.Select(s => Math.Round(s, 3)),
                median_step_seconds = Math.Round(res.MedianStep, 3),
                step_cpu_seconds = res.StepCpuSeconds.Select(s => Math.Round(s, 3)),
                median_step_cpu_seconds = Math.Round(res.MedianStepCpu, 3),
                load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
                batch = res.Batch,
                dtype = res.DType,
                attention_slice = res.AttentionSlice,
                peak_rss_mb = res.PeakRssMB,
                unet_seconds_per_image_20_steps = Math.Round(res.PerImage(20), 1),
                unet_seconds_per_image_50_steps = Math.Round(res.PerImage(50), 1),
                threads = TorchSharp.torch.get_num_threads(),
                vae_decode_seconds = vaeTime?.Wall is { } w ? Math.Round(w, 2) : (double?)null,
                vae_decode_cpu_seconds = vaeTime?.Cpu is { } c ? Math.Round(c, 2) : (double?)null,
                vae_decode_peak_rss_mb = vaeTime?.PeakRssMB,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
