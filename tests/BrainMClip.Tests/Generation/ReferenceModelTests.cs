using BrainMClip.Generation.Models;
using BrainMClip.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>
/// Shapes the shared goldens do not cover, against the float64 torch reference of
/// tests/fixtures-gen/diffusion_reference.py:
/// three levels, two layers per block, per-level heads, odd non-square inputs, linear projections, two transformer
/// layers, flip_sin_to_cos false / freq_shift 1, and a VAE saved with legacy attention key names.
/// </summary>
public class ReferenceModelTests
{
    [Theory]
    [InlineData("unet-3level")]
    [InlineData("unet-linear")]
    public void UNetMatchesTorchReference(string name)
    {
        using var scope = NewDisposeScope();
        var dir = TestPaths.Fixture($"diffusion/{name}");
        using var unet = UNet2DConditionModel.FromPretrained(dir);
        var g = SafeTensors.Load(Path.Combine(dir, "golden.safetensors"));
        using var _ = no_grad();
        var pred = unet.Forward(g["sample"], g["timestep"], g["encoder_hidden_states"]);
        double err = GoldenModelTests.MaxAbs(pred, g["noise_pred"]);
        Assert.True(err < 1e-4, $"{name}: noise_pred max abs err {err}");
    }

    [Fact]
    public void UNetIsConsistentInFloat64OnNonSquareInput()
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(GoldenModelTests.Dir("unet"));
        var gen = new Generator(5);
        var x = randn([1, 4, 8, 12], generator: gen);
        var ctx = randn([1, 5, 32], generator: gen);
        var t = tensor(new long[] { 321 });
        using var _ = no_grad();
        var y32 = unet.Forward(x, t, ctx);
        unet.to(ScalarType.Float64);
        var y64 = unet.Forward(x.to_type(ScalarType.Float64), t, ctx.to_type(ScalarType.Float64));
        Assert.Equal(new long[] { 1, 4, 8, 12 }, y32.shape);
        Assert.True(GoldenModelTests.MaxAbs(y32, y64) < 1e-4);
    }

    [Fact]
    public void VaeWithLegacyKeysMatchesTorchReference()
    {
        using var scope = NewDisposeScope();
        var dir = TestPaths.Fixture("diffusion/vae-3level-legacy");
        Assert.Contains("decoder.mid_block.attentions.0.query.weight",
            SafeTensors.ReadHeader(Path.Combine(dir, "model.safetensors")).Entries.Keys);
        using var vae = AutoencoderKL.FromPretrained(dir);
        Assert.Equal(0.13025, vae.Config.ScalingFactor);
        Assert.Equal(4, vae.Config.SpatialFactor);
        var g = SafeTensors.Load(Path.Combine(dir, "golden.safetensors"));
        using var _ = no_grad();
        var image = vae.Decode(g["latents"]);
        Assert.True(GoldenModelTests.MaxAbs(image, g["image"]) < 1e-4);
        var (mean, logvar) = vae.Encode(g["encode_image"]);
        Assert.True(GoldenModelTests.MaxAbs(mean, g["encode_mean"]) < 1e-4);
        Assert.True(GoldenModelTests.MaxAbs(logvar, g["encode_logvar"]) < 1e-4);
    }

    [Fact]
    public void LegacyKeyRenaming()
    {
        Assert.Equal("encoder.mid_block.attentions.0.to_out.0.bias",
            AutoencoderKL.RenameLegacyKey("encoder.mid_block.attentions.0.proj_attn.bias"));
        Assert.Equal("decoder.mid_block.attentions.0.to_k.weight",
            AutoencoderKL.RenameLegacyKey("decoder.mid_block.attentions.0.key.weight"));
        Assert.Equal("decoder.conv_in.weight", AutoencoderKL.RenameLegacyKey("decoder.conv_in.weight"));
    }
}
