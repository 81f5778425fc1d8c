using BrainMClip.Generation.Models;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>UNet and VAE against the diffusers goldens (diffusion-tiny), absolute tolerance 1e-4.</summary>
public class GoldenModelTests
{
    internal static string Dir(string sub) => TestPaths.Golden(Path.Combine("diffusion-tiny", sub));

    internal static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        return (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max().item<double>();
    }

    [Fact]
    public void UNetMatchesGolden()
    {
        using var scope = NewDisposeScope();
        var unet = UNet2DConditionModel.FromPretrained(Dir("unet"));
        Assert.Equal(208, unet.state_dict().Count);
        Assert.Equal(792_964, unet.parameters().Sum(p => p.numel()));
        var g = SafeTensors.Load(Path.Combine(Dir("unet"), "golden.safetensors"));
        using var _ = no_grad();
        var pred = unet.Forward(g["sample"], g["timestep"], g["encoder_hidden_states"]);
        double err = MaxAbs(pred, g["noise_pred"]);
        Assert.True(err < 1e-4, $"noise_pred max abs err {err}");
        // Timesteps as float32 give the same output.
        var pred2 = unet.Forward(g["sample"], g["timestep"].to_type(ScalarType.Float32), g["encoder_hidden_states"]);
        Assert.True(MaxAbs(pred2, g["noise_pred"]) < 1e-4);
    }

    [Fact]
    public void UNetAttentionSlicingGivesSameOutput()
    {
        using var scope = NewDisposeScope();
        var unet = UNet2DConditionModel.FromPretrained(Dir("unet"));
        var g = SafeTensors.Load(Path.Combine(Dir("unet"), "golden.safetensors"));
        using var _ = no_grad();
        unet.SetAttentionSlicing(1);
        var pred = unet.Forward(g["sample"], g["timestep"], g["encoder_hidden_states"]);
        Assert.True(MaxAbs(pred, g["noise_pred"]) < 1e-4);
    }

    [Fact]
    public void VaeDecodeAndEncodeMatchGolden()
    {
        using var scope = NewDisposeScope();
        var vae = AutoencoderKL.FromPretrained(Dir("vae"));
        Assert.Equal(124, vae.state_dict().Count);
        Assert.Equal(658_375, vae.parameters().Sum(p => p.numel()));
        Assert.Equal(0.18215, vae.Config.ScalingFactor);
        var g = SafeTensors.Load(Path.Combine(Dir("vae"), "golden.safetensors"));
        using var _ = no_grad();
        var image = vae.Decode(g["latents"]);
        Assert.True(MaxAbs(image, g["image"]) < 1e-4, $"image err {MaxAbs(image, g["image"])}");
        Assert.True(MaxAbs((image / 2 + 0.5).clamp(0, 1), g["image_01"]) < 1e-4);
        var (mean, logvar) = vae.Encode(g["encode_image"]);
        Assert.True(MaxAbs(mean, g["encode_mean"]) < 1e-4, $"mean err {MaxAbs(mean, g["encode_mean"])}");
        Assert.True(MaxAbs(logvar, g["encode_logvar"]) < 1e-4, $"logvar err {MaxAbs(logvar, g["encode_logvar"])}");
    }

    /// <summary>The decoder-only VAE reconstruct loads: the same decode, none of the encoder's weights.</summary>
    [Fact]
    public void DecoderOnlyVaeDecodesTheSameWithoutTheEncoder()
    {
        using var scope = NewDisposeScope();
        var full = AutoencoderKL.FromPretrained(Dir("vae"));
        var dec = AutoencoderKL.FromPretrained(Dir("vae"), decoderOnly: true);
        Assert.True(dec.DecoderOnly);
        Assert.DoesNotContain(dec.state_dict().Keys, k => k.StartsWith("encoder.") || k.StartsWith("quant_conv."));
        long encoderParams = full.named_parameters()
            .Where(p => p.name.StartsWith("encoder.") || p.name.StartsWith("quant_conv.")).Sum(p => p.parameter.numel());
        Assert.True(encoderParams > 0);
        Assert.Equal(658_375 - encoderParams, dec.parameters().Sum(p => p.numel()));
        var g = SafeTensors.Load(Path.Combine(Dir("vae"), "golden.safetensors"));
        using var _ = no_grad();
        Assert.True(MaxAbs(dec.Decode(g["latents"]), g["image"]) < 1e-4);
        Assert.Throws<InvalidOperationException>(() => dec.Encode(g["encode_image"]));
    }
}
