using BrainMClip.Generation.Models;
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
        Assert.Contains("--attention-resolution", e.Message);
    }
}
