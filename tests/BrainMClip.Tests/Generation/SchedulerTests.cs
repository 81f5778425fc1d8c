using BrainMClip.Generation.Schedulers;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

public class SchedulerTests
{
    static void Close(Tensor actual, Tensor expected, double abs, double rel, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        var a = actual.to_type(ScalarType.Float64);
        var e = expected.to_type(ScalarType.Float64);
        var excess = ((a - e).abs() - (e.abs() * rel + abs)).max().item<double>();
        Assert.True(excess <= 0,
            $"{what}: max |diff| {(a - e).abs().max().item<double>()} exceeds abs {abs} + rel {rel}");
    }

    static Dictionary<string, Tensor> Golden() =>
        SafeTensors.Load(Path.Combine(GoldenModelTests.Dir("ddim"), "golden.safetensors"));

    static SchedulerConfig GoldenConfig() =>
        SchedulerConfig.Load(Path.Combine(GoldenModelTests.Dir("ddim"), "scheduler_config.json"));

    [Fact]
    public void DdimScheduleAndStepsMatchGolden()
    {
        using var scope = NewDisposeScope();
        var g = Golden();
        var s = new DDIMScheduler(GoldenConfig());
        Assert.Equal(g["betas"].data<float>().ToArray(), s.Config.Betas().data<float>().ToArray());
        Assert.Equal(g["alphas_cumprod"].data<float>().ToArray(), s.AlphasCumprod);
        Assert.Equal(g["final_alpha_cumprod"].data<float>()[0], s.FinalAlphaCumprod);
        s.SetTimesteps((int)g["num_inference_steps"].data<long>()[0]);
        Assert.Equal(g["timesteps"].data<long>().ToArray(), s.Timesteps);
        var idx = g["step_index"].data<long>().ToArray();
        var ts = g["step_timestep"].data<long>().ToArray();
        var prevTs = g["step_prev_timestep"].data<long>().ToArray();
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(ts[k], s.Timesteps[idx[k]]);
            Assert.Equal(prevTs[k], s.PrevTimestep(ts[k]));
            Assert.Equal(g["step_alpha_prod_t"].data<float>()[k], s.AlphaProd(ts[k]));
            Assert.Equal(g["step_alpha_prod_t_prev"].data<float>()[k], s.AlphaProd(prevTs[k]));
            var o = s.Step(g[$"step{k}_model_output"], ts[k], g[$"step{k}_sample"]);
            Close(o.PrevSample, g[$"step{k}_prev_sample"], 1e-5, 1e-5, $"step{k}_prev_sample");
            Close(o.PredOriginalSample, g[$"step{k}_pred_original_sample"], 1e-5, 1e-5,
                $"step{k}_pred_original_sample");
        }
        var cfg = Guidance.Apply(g["cfg_noise_pred_uncond"], g["cfg_noise_pred_cond"],
            g["cfg_guidance_scale"].data<float>()[0]);
        Close(cfg, g["cfg_noise_pred"], 1e-5, 1e-5, "cfg_noise_pred");
    }

    [Theory]
    [InlineData("trailing", 7)]
    [InlineData("linspace", 10)]
    [InlineData("leading", 6)]
    public void DdimSpacingsMatchReference(string spacing, int n)
    {
        using var scope = NewDisposeScope();
        var r = SafeTensors.Load(TestPaths.Fixture("diffusion/schedulers.safetensors"));
        var s = new DDIMScheduler(GoldenConfig() with { TimestepSpacing = spacing });
        s.SetTimesteps(n);
        Assert.Equal(r[$"ddim_{spacing}_timesteps"].data<long>().ToArray(), s.Timesteps);
        for (int i = 0; i < n; i++)
        {
            var o = s.Step(r[$"ddim_{spacing}_model_output"], s.Timesteps[i], r[$"ddim_{spacing}_sample"]);
            Close(o.PrevSample, r[$"ddim_{spacing}_prev_sample"][i], 1e-5, 1e-5, $"{spacing} step {i}");
            Close(o.PredOriginalSample, r[$"ddim_{spacing}_pred_original_sample"][i], 1e-5, 1e-5, $"{spacing} x0 {i}");
        }
    }

    [Fact]
    public void DdimVPredictionMatchesReference()
    {
        using var scope = NewDisposeScope();
        var r = SafeTensors.Load(TestPaths.Fixture("diffusion/schedulers.safetensors"));
        var s = new DDIMScheduler(
            GoldenConfig() with { TimestepSpacing = "trailing", PredictionType = "v_prediction" });
        s.SetTimesteps(7);
        var o = s.Step(r["ddim_trailing_model_output"], 500, r["ddim_trailing_sample"]);
        Close(o.PrevSample, r["ddim_vpred_t500_prev_sample"], 1e-5, 1e-5, "v prev");
        Close(o.PredOriginalSample, r["ddim_vpred_t500_pred_original_sample"], 1e-5, 1e-5, "v x0");
    }

    [Theory]
    [InlineData("dpm_linspace_zero", "linspace", 6, "zero")]
    [InlineData("dpm_leading_sigmamin", "leading", 5, "sigma_min")]
    [InlineData("dpm_trailing_zero", "trailing", 4, "zero")]
    public void DpmSolverMatchesPythonReference(string name, string spacing, int n, string finalSigmas)
    {
        using var scope = NewDisposeScope();
        var r = SafeTensors.Load(TestPaths.Fixture("diffusion/schedulers.safetensors"));
        using var s = new DPMSolverMultistepScheduler(
            GoldenConfig() with { TimestepSpacing = spacing, FinalSigmasType = finalSigmas });
        s.SetTimesteps(n);
        Assert.Equal(r[$"{name}_timesteps"].data<long>().ToArray(), s.Timesteps);
        Assert.Equal(r[$"{name}_sigmas"].data<float>().ToArray(), s.Sigmas);
        var x = r[$"{name}_sample"];
        var samples = r[$"{name}_samples"];
        double scale = samples.abs().max().item<float>();
        for (int i = 0; i < n; i++)
        {
            var o = s.Step(r[$"{name}_model_outputs"][i], s.Timesteps[i], x);
            Close(o.PredOriginalSample, r[$"{name}_pred_original_samples"][i], 1e-5 * scale, 1e-5, $"{name} x0 {i}");
            Close(o.PrevSample, samples[i], 1e-5 * scale, 1e-5, $"{name} step {i}");
            x = o.PrevSample;
        }
    }
}
