using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using static TorchSharp.torch;

namespace BrainMClip.Parity;

internal static class ParityInputs
{
    public static Tensor Require(IReadOnlyDictionary<string, Tensor> inputs, string name, string component) =>
        inputs.TryGetValue(name,
            out var t) ? t : throw new UserInputException($"parity {component}: input tensor '{name}' is missing");

    public static long Long(Tensor t) => t.to_type(ScalarType.Int64).flatten()[0].item<long>();
    public static double Double(Tensor t) => t.to_type(ScalarType.Float64).flatten()[0].item<double>();

    public static string Dir(string? modelDir, string component, params string[] subs)
    {
        if (modelDir == null) throw new UserInputException(
            $"parity {component}: the model (a diffusers folder) is required");
        return subs.Select(s => Path.Combine(modelDir, s)).FirstOrDefault(Directory.Exists) ?? modelDir;
    }

    /// <summary>Copies results into the command's output dictionary (detached from any dispose scope, on the
    /// CPU).</summary>
    public static void Emit(IDictionary<string, Tensor> outputs, Dictionary<string, Tensor> results)
    {
        foreach (var (k, v) in results) outputs[k] = v.cpu().DetachFromDisposeScope();
    }
}

/// <summary><c>unet</c>: sample, timestep, encoder_hidden_states → noise_pred; extra_sample →
/// extra_noise_pred.</summary>
public sealed class UnetParity : IParityComponent
{
    public string Name => "unet";
    public string Description =>
        "diffusers UNet2DConditionModel folder: sample, timestep, encoder_hidden_states -> noise_pred (extra_sample " +
        "-> extra_noise_pred)";

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options)
    {
        using var scope = NewDisposeScope();
        ParityInputs.Emit(outputs, Compute(model, inputs));
    }

    Dictionary<string, Tensor> Compute(string? modelDir, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var unet = UNet2DConditionModel.FromPretrained(ParityInputs.Dir(modelDir, Name, "unet", "image_unet"));
        using var noGrad = no_grad();
        var sample = ParityInputs.Require(inputs, "sample", Name);
        var t = ParityInputs.Require(inputs, "timestep", Name);
        var ctx = ParityInputs.Require(inputs, "encoder_hidden_states", Name);
        var result = new Dictionary<string, Tensor> { ["noise_pred"] = unet.Forward(sample, t, ctx) };
        if (inputs.TryGetValue("extra_sample", out var extra))
        {
            var et = inputs.GetValueOrDefault("extra_timestep") ?? t;
            var ec = inputs.GetValueOrDefault("extra_encoder_hidden_states") ?? ctx;
            if (ec.shape[0] != extra.shape[0] && ec.shape[0] > extra.shape[0]) ec = ec.narrow(0, 0, extra.shape[0]);
            if (et.numel() > 1 && et.numel() != extra.shape[0]) et = et.flatten().narrow(0, 0, extra.shape[0]);
            result["extra_noise_pred"] = unet.Forward(extra, et, ec);
        }
        return result;
    }
}

/// <summary><c>vae</c>: latents → image, image_01; encode_image → encode_mean, encode_logvar; extra_latents →
/// extra_image.</summary>
public sealed class VaeParity : IParityComponent
{
    public string Name => "vae";
    public string Description =>
        "diffusers AutoencoderKL folder: latents -> image, image_01; encode_image -> encode_mean, encode_logvar; " +
        "extra_latents -> extra_image";

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options)
    {
        using var scope = NewDisposeScope();
        ParityInputs.Emit(outputs, Compute(model, inputs));
    }

    Dictionary<string, Tensor> Compute(string? modelDir, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var vae = AutoencoderKL.FromPretrained(ParityInputs.Dir(modelDir, Name, "vae"));
        using var noGrad = no_grad();
        var result = new Dictionary<string, Tensor>();
        if (inputs.TryGetValue("latents", out var z))
        {
            var image = vae.Decode(z);
            result["image"] = image;
            result["image_01"] = ImageVariationPipeline.ToUnitRange(image);
        }
        if (inputs.TryGetValue("encode_image", out var x))
        {
            var (mean, logvar) = vae.Encode(x);
            result["encode_mean"] = mean;
            result["encode_logvar"] = logvar;
        }
        if (inputs.TryGetValue("extra_latents", out var ez)) result["extra_image"] = vae.Decode(ez);
        if (result.Count == 0) throw new UserInputException(
            "parity vae: none of latents, encode_image, extra_latents is in the inputs");
        return result;
    }
}

/// <summary>
/// <c>ddim</c>: num_inference_steps, step_timestep, step{k}_model_output, step{k}_sample, cfg_* → timesteps,
/// alphas_cumprod, step{k}_prev_sample, step{k}_pred_original_sample, cfg_noise_pred (plus betas, final_alpha_cumprod
/// and the step alphas).
/// </summary>
public sealed class DdimParity : IParityComponent
{
    public string Name => "ddim";
    public string Description =>
        "folder with scheduler_config.json: num_inference_steps, step_timestep, step{k}_model_output, " +
        "step{k}_sample, cfg_* -> timesteps, alphas_cumprod, step{k}_prev_sample, step{k}_pred_original_sample, " +
        "cfg_noise_pred";

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options)
    {
        using var scope = NewDisposeScope();
        ParityInputs.Emit(outputs, Compute(model, inputs));
    }

    Dictionary<string, Tensor> Compute(string? modelDir, IReadOnlyDictionary<string, Tensor> inputs)
    {
        var dir = ParityInputs.Dir(modelDir, Name, "scheduler", "ddim");
        var s = DDIMScheduler.FromConfigFile(Path.Combine(dir, "scheduler_config.json"));
        var result = new Dictionary<string, Tensor>
        {
            ["betas"] = s.Config.Betas(),
            ["alphas_cumprod"] = tensor(s.AlphasCumprod),
            ["final_alpha_cumprod"] = tensor(new[] { s.FinalAlphaCumprod }),
        };
        int n = (int)ParityInputs.Long(ParityInputs.Require(inputs, "num_inference_steps", Name));
        s.SetTimesteps(n);
        result["timesteps"] = tensor(s.Timesteps);
        if (inputs.TryGetValue("step_timestep", out var stepTs))
        {
            var ts = stepTs.to_type(ScalarType.Int64).data<long>().ToArray();
            var prev = new long[ts.Length];
            var aT = new float[ts.Length];
            var aPrev = new float[ts.Length];
            for (int k = 0; k < ts.Length; k++)
            {
                prev[k] = s.PrevTimestep(ts[k]);
                aT[k] = s.AlphaProd(ts[k]);
                aPrev[k] = s.AlphaProd(prev[k]);
                if (!inputs.TryGetValue($"step{k}_model_output", out var mo)
                    || !inputs.TryGetValue($"step{k}_sample", out var x)) continue;
                var o = s.Step(mo, ts[k], x);
                result[$"step{k}_prev_sample"] = o.PrevSample;
                result[$"step{k}_pred_original_sample"] = o.PredOriginalSample;
            }
            result["step_prev_timestep"] = tensor(prev);
            result["step_alpha_prod_t"] = tensor(aT);
            result["step_alpha_prod_t_prev"] = tensor(aPrev);
        }
        if (inputs.TryGetValue("cfg_noise_pred_uncond", out var u)
            && inputs.TryGetValue("cfg_noise_pred_cond", out var c) &&
            inputs.TryGetValue("cfg_guidance_scale", out var gs))
            result["cfg_noise_pred"] = Guidance.Apply(u, c, ParityInputs.Double(gs));
        return result;
    }
}

/// <summary>
/// <c>pipeline</c> (DIR with unet/, vae/, ddim/ or scheduler/): latents_init, encoder_hidden_states (row 0
/// unconditional), guidance_scale, num_inference_steps → timesteps, guided_noise_pred, latents_after_step,
/// latents_final, image, image_01.
/// </summary>
public sealed class PipelineParity : IParityComponent
{
    public string Name => "pipeline";
    public string Description =>
        "folder with unet/, vae/, ddim/ (or scheduler/): latents_init, encoder_hidden_states, guidance_scale, " +
        "num_inference_steps -> timesteps, guided_noise_pred, latents_after_step, latents_final, image, image_01";

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options)
    {
        using var scope = NewDisposeScope();
        ParityInputs.Emit(outputs, Compute(model, inputs));
    }

    Dictionary<string, Tensor> Compute(string? modelDir, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var gen = GeneratorFolder.Load(ParityInputs.Dir(modelDir, Name));
        var pipe = gen.CreatePipeline("ddim");
        var latents = ParityInputs.Require(inputs, "latents_init", Name);
        var ctx = ParityInputs.Require(inputs, "encoder_hidden_states", Name);
        double guidance = ParityInputs.Double(ParityInputs.Require(inputs, "guidance_scale", Name));
        int steps = (int)ParityInputs.Long(ParityInputs.Require(inputs, "num_inference_steps", Name));
        var guided = new List<Tensor>();
        var after = new List<Tensor>();
        var final = pipe.Denoise(latents, ctx, guidance, steps, s =>
        {
            guided.Add(s.GuidedNoisePred.clone().DetachFromDisposeScope());
            after.Add(s.LatentsAfterStep.clone().DetachFromDisposeScope());
        });
        var image = pipe.Decode(final);
        return new Dictionary<string, Tensor>
        {
            ["timesteps"] = tensor(pipe.Scheduler.Timesteps),
            ["guided_noise_pred"] = stack(guided),
            ["latents_after_step"] = stack(after),
            ["latents_final"] = final,
            ["image"] = image,
            ["image_01"] = ImageVariationPipeline.ToUnitRange(image),
        };
    }
}
