using BrainMClip.Generation.Models;
using BrainMClip.Generation.Schedulers;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>The fused attention used in training gives the gradients of the explicit softmax(QKᵀ)V path; config
/// options.</summary>
public class TrainingPathTests
{
    [Fact]
    public void FusedAttentionGradientsMatchExplicitAttention()
    {
        using var scope = NewDisposeScope();
        var unet = UNet2DConditionModel.FromPretrained(GoldenModelTests.Dir("unet"));
        var g = SafeTensors.Load(Path.Combine(GoldenModelTests.Dir("unet"), "golden.safetensors"));
        var ctx = g["encoder_hidden_states"].detach().clone().requires_grad_();
        Dictionary<string, Tensor> Grads()
        {
            unet.zero_grad();
            ctx.grad?.zero_();
            unet.Forward(g["sample"], g["timestep"], ctx).square().mean().backward();
            var d = unet.named_parameters().Where(p => p.parameter.grad is not null)
                .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
            d["context"] = ctx.grad!.clone();
            return d;
        }
        var fused = Grads();          // unsliced float32: scaled_dot_product_attention
        unet.SetAttentionSlicing(1);  // sliced: explicit bmm / softmax / bmm
        var manual = Grads();
        Assert.Equal(manual.Keys.Order(), fused.Keys.Order());
        Assert.Contains(fused.Keys, k => k.Contains("attn1.to_q", StringComparison.Ordinal));
        foreach (var (k, m) in manual)
        {
            double scale = Math.Max(m.abs().max().item<float>(), 1e-6);
            double err = GoldenModelTests.MaxAbs(fused[k], m) / scale;
            Assert.True(err < 1e-4, $"{k}: relative gradient difference {err}");
        }
    }

    [Fact]
    public void AttentionResolutionSelectsTheAttentionLevels()
    {
        var at16 = PixelGeneratorTrainer.SmallConfig(32, 8);
        Assert.Equal(["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], at16.DownBlockTypes);
        Assert.Equal(["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], at16.UpBlockTypes);
        var at8 = PixelGeneratorTrainer.SmallConfig(32, 8, attentionResolution: 8);
        Assert.Equal(["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"], at8.DownBlockTypes);
        Assert.Equal(["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"], at8.UpBlockTypes);
        var e = Assert.Throws<UserInputException>(() =>
            PixelGeneratorTrainer.SmallConfig(32, 8, attentionResolution: 0));
        Assert.Equal("AttentionResolution", e.Field); // the CLI names it --attention-resolution
        Assert.Contains("attention resolution must be 1 to 32", e.Message);
    }

    /// <summary>
    /// Cross-attention is blind to the order of the context tokens; the context map is not: moving a patch token to
    /// another grid cell must change the output, and only with the map. The flag survives config.json.
    /// </summary>
    [Fact]
    public void ContextMapMakesTheOutputDependOnWhereEachPatchTokenIs()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var ctx = randn([1, 5, 8], generator: g); // class token + 2×2 patch grid
        var swapped = ctx.index_select(1, tensor(new long[] { 0, 4, 2, 3, 1 }));
        var x = randn([1, 3, 32, 32], generator: g);
        var t = tensor(500L);
        double Change(bool map)
        {
            manual_seed(0);
            using var unet = new UNet2DConditionModel(PixelGeneratorTrainer.SmallConfig(32, 8, contextMap: map));
            unet.eval();
            using var noGrad = no_grad();
            return GoldenModelTests.MaxAbs(unet.Forward(x, t, ctx), unet.Forward(x, t, swapped));
        }
        Assert.True(Change(false) < 1e-5, $"without the map: {Change(false)}");
        Assert.True(Change(true) > 1e-3, $"with the map: {Change(true)}");

        var cfg = PixelGeneratorTrainer.SmallConfig(32, 8, contextMap: true);
        Assert.True(UNet2DConditionConfig.From(ConfigReader.Parse(cfg.ToJson(), "config.json")).ContextMap);
        Assert.DoesNotContain(UNet2DConditionConfig.ContextMapKey, PixelGeneratorTrainer.SmallConfig(32, 8).ToJson());
        using var bad = new UNet2DConditionModel(cfg);
        var e = Assert.Throws<UserInputException>(() => bad.Forward(x, t, randn([1, 4, 8], generator: g)));
        Assert.Contains("square grid", e.Message);
    }

    /// <summary>
    /// Pixel-shuffle context map: pixel (gy·f + i, gx·f + j) of channel c is the 1×1 projection's output channel
    /// c·f² + i·f + j at token (gy, gx), computed here in float64 from the module's weights; so a token reaches only
    /// its own f×f patch (the bilinear map smears it over the image). A map smaller than the sample (f = 8 for a 2×2
    /// grid at 32 px) is then resized bilinearly. The key survives config.json; bad values are refused.
    /// </summary>
    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    public void PixelShuffleContextMapDecodesEachTokenIntoItsOwnPatch(int f)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(4);
        var ctx = randn([2, 5, 8], generator: g); // class token + 2×2 patch grid
        var cfg = PixelGeneratorTrainer.SmallConfig(32, 8, contextMap: true, contextMapShuffle: f);
        manual_seed(1);
        using var unet = new UNet2DConditionModel(cfg);
        using var noGrad = no_grad();
        var map = unet.ContextMapOf(ctx, 32, 32);
        Assert.Equal(new long[] { 2, 32, 32, 32 }, map.shape);

        var p = unet.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.to_type(ScalarType.Float64));
        var grid = ctx.to_type(ScalarType.Float64).narrow(1, 1, 4).transpose(1, 2).reshape(2, 8, 2, 2);
        var proj = einsum("oc,bcyx->boyx", p["context_map_in.weight"].flatten(1), grid)
            + p["context_map_in.bias"].reshape(1, -1, 1, 1); // (2, 32·f², 2, 2)
        var expected = proj.reshape(2, 32, f, f, 2, 2).permute(0, 1, 4, 2, 5, 3).reshape(2, 32, 2 * f, 2 * f);
        if (f != 16)
            expected = nn.functional.interpolate(expected, size: [32, 32], mode: InterpolationMode.Bilinear,
                align_corners: false);
        Assert.True(GoldenModelTests.MaxAbs(map.to_type(ScalarType.Float64), expected) < 1e-5);

        // Changing the top-left token changes the top-left patch and (when shuffled to full size) nothing else.
        var moved = ctx.clone();
        moved[.., 1, ..] += 1.0f;
        var delta = (unet.ContextMapOf(moved, 32, 32) - map).abs().amax([0, 1]);
        double inside = delta[..15, ..15].min().item<float>(), outside = delta[16.., ..].max().item<float>();
        Assert.True(inside > 1e-4, $"own patch: {inside}");
        // The bilinear resize blends the patch edge into the neighbour's first row.
        Assert.True(f == 16 ? outside == 0 : outside > 1e-6, $"other patches: {outside}");

        var back = UNet2DConditionConfig.From(ConfigReader.Parse(cfg.ToJson(), "config.json"));
        Assert.Equal(f, back.ContextMapShuffle);
        var e = Assert.Throws<UserInputException>(() => UNet2DConditionConfig.From(ConfigReader.Parse(
            PixelGeneratorTrainer.SmallConfig(32, 8).ToJson().Replace("{",
                $"{{\"{UNet2DConditionConfig.ContextMapShuffleKey}\": 4,"), "config.json")));
        Assert.Contains(UNet2DConditionConfig.ContextMapShuffleKey, e.Message);
    }

    /// <summary>
    /// The training target of each parameterisation, fed to the DDIM and DPM-Solver++ schedulers configured with it,
    /// decodes to the true clean image (PredOriginalSample) and to the same step: trainer and sampler agree.
    /// </summary>
    [Theory]
    [InlineData("ddim")]
    [InlineData("dpm")]
    public void TrainingTargetsDecodeToTheCleanImageInTheSchedulers(string kind)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        var x0 = randn([2, 3, 4, 4], generator: g);
        var noise = randn([2, 3, 4, 4], generator: g);
        Tensor? reference = null;
        foreach (var prediction in PixelGeneratorTrainer.Predictions)
        {
            var cfg = SchedulerConfig.StableDiffusion with { PredictionType = prediction };
            IDiffusionScheduler s = kind == "ddim" ? new DDIMScheduler(cfg) : new DPMSolverMultistepScheduler(cfg);
            s.SetTimesteps(10);
            long t = s.Timesteps[0]; // DPM-Solver++ steps in order from the first timestep
            var a = tensor(cfg.AlphasCumprod()[t]);
            var xt = a.sqrt() * x0 + (1 - a).sqrt() * noise;
            var step = s.Step(PixelGeneratorTrainer.Target(prediction, x0, noise, a), t, xt);
            Assert.True(GoldenModelTests.MaxAbs(step.PredOriginalSample, x0) < 1e-4, prediction);
            reference ??= step.PrevSample;
            Assert.True(GoldenModelTests.MaxAbs(step.PrevSample, reference) < 1e-4, $"{prediction} vs epsilon");
        }
        Assert.Throws<UserInputException>(() => PixelGeneratorTrainer.Target("x", x0, noise, tensor(0.5f)));
    }

    /// <summary>
    /// DDIM's last step with an x0-predicting model: with set_alpha_to_one (what the pixel generator's scheduler
    /// config says) the output is the predicted clean image exactly; with SD's false it keeps √(1 − ᾱ₀) of the noise
    /// estimate (the grain measured in docs/generation.md), computed here by hand in float64.
    /// </summary>
    [Fact]
    public void DdimLastStepReturnsTheCleanImageWithAlphaOne()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(6);
        var x0 = randn([1, 3, 4, 4], generator: g, dtype: ScalarType.Float64);
        var xt = randn([1, 3, 4, 4], generator: g, dtype: ScalarType.Float64);
        double Last(bool alphaOne, out Tensor prev)
        {
            var cfg = SchedulerConfig.StableDiffusion with { PredictionType = "sample", SetAlphaToOne = alphaOne };
            var s = new DDIMScheduler(cfg);
            s.SetTimesteps(12);
            long t = s.Timesteps[^1];
            prev = s.Step(x0, t, xt).PrevSample;
            return cfg.AlphasCumprod()[t];
        }
        Last(true, out var exact);
        Assert.True(GoldenModelTests.MaxAbs(exact, x0) < 1e-12);
        double at = Last(false, out var grainy), a0 = SchedulerConfig.StableDiffusion.AlphasCumprod()[0];
        var eps = (xt - Math.Sqrt(at) * x0) / Math.Sqrt(1 - at);
        var expected = Math.Sqrt(a0) * x0 + Math.Sqrt(1 - a0) * eps;
        Assert.True(GoldenModelTests.MaxAbs(grainy, expected) < 1e-5);
        Assert.True(GoldenModelTests.MaxAbs(grainy, x0) > 1e-3);
    }
}
