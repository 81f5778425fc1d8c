using System.Text.Json.Nodes;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>Unsupported configs name the field; bad weight files name the key.</summary>
public class ErrorPathTests
{
    static string UnetConfigWith(string key, JsonNode? value)
    {
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(GoldenModelTests.Dir("unet"), "config.json")))!.AsObject();
        o[key] = value;
        return o.ToJsonString();
    }

    [Theory]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("addition_embed_type", "\"text_time\"")]
    [InlineData("down_block_types", "[\"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]")]
    [InlineData("up_block_types", "[\"UpBlock2D\", \"KCrossAttnUpBlock2D\"]")]
    [InlineData("mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"")]
    [InlineData("resnet_time_scale_shift", "\"scale_shift\"")]
    [InlineData("attention_head_dim", "7")]
    [InlineData("only_cross_attention", "true")]
    [InlineData("block_out_channels", "[32]")]
    public void UnsupportedUNetConfigNamesTheField(string key, string json)
    {
        var cfg = UnetConfigWith(key, JsonNode.Parse(json));
        var e = Assert.Throws<UserInputException>(() =>
            UNet2DConditionConfig.From(ConfigReader.Parse(cfg, "unet/config.json")));
        Assert.Contains("unet/config.json", e.Message);
        Assert.Contains(key == "block_out_channels" ? "down_block_types" : key, e.Message);
    }

    [Fact]
    public void UnsupportedSchedulerAndVaeConfigsNameTheField()
    {
        using var dir = new TempDir();
        var sched = Path.Combine(dir.Path, "scheduler_config.json");
        File.WriteAllText(sched, "{\"beta_schedule\": \"sigmoid\"}");
        Assert.Contains("beta_schedule", Assert.Throws<UserInputException>(() => SchedulerConfig.Load(sched)).Message);
        File.WriteAllText(sched, "{\"timestep_spacing\": \"karras\"}");
        Assert.Contains("timestep_spacing",
            Assert.Throws<UserInputException>(() => SchedulerConfig.Load(sched)).Message);
        File.WriteAllText(sched, "{\"thresholding\": true}");
        Assert.Contains("thresholding", Assert.Throws<UserInputException>(() => SchedulerConfig.Load(sched)).Message);
        var vae = Path.Combine(dir.Path, "config.json");
        File.WriteAllText(vae,
            "{\"_class_name\": \"AutoencoderKL\", \"block_out_channels\": [32], \"down_block_types\": " +
            "[\"AttnDownEncoderBlock2D\"]}");
        Assert.Contains("down_block_types",
            Assert.Throws<UserInputException>(() => AutoencoderKLConfig.Load(vae)).Message);
    }

    static string CopyGoldenUnet(TempDir dir, Action<Dictionary<string, Tensor>> edit)
    {
        var src = GoldenModelTests.Dir("unet");
        var dst = Path.Combine(dir.Path, "unet");
        Directory.CreateDirectory(dst);
        File.Copy(Path.Combine(src, "config.json"), Path.Combine(dst, "config.json"));
        var weights = SafeTensors.Load(Path.Combine(src, "model.safetensors"));
        edit(weights);
        SafeTensors.Save(Path.Combine(dst, "diffusion_pytorch_model.safetensors"), weights);
        return dst;
    }

    [Fact]
    public void MissingKeyIsNamed()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var folder = CopyGoldenUnet(dir,
            w => w.Remove("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"));
        var e = Assert.Throws<UserInputException>(() => UNet2DConditionModel.FromPretrained(folder));
        Assert.Contains("missing key 'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight'", e.Message);
    }

    [Fact]
    public void WrongShapeAndUnexpectedKeysAreNamed()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var folder = CopyGoldenUnet(dir, w => w["conv_in.weight"] = zeros(32, 4, 1, 1));
        var e = Assert.Throws<UserInputException>(() => UNet2DConditionModel.FromPretrained(folder));
        Assert.Contains("'conv_in.weight'", e.Message);
        Assert.Contains("[32,4,1,1]", e.Message);
        Assert.Contains("[32,4,3,3]", e.Message);

        using var dir2 = new TempDir();
        var folder2 = CopyGoldenUnet(dir2, w => w["down_blocks.0.attentions.0.extra.weight"] = zeros(3));
        Assert.Contains("unexpected key 'down_blocks.0.attentions.0.extra.weight'",
            Assert.Throws<UserInputException>(() => UNet2DConditionModel.FromPretrained(folder2)).Message);
    }

    [Fact]
    public void GeneratorFolderProblemsAreClear()
    {
        using var dir = new TempDir();
        Assert.Contains("image_unet", Assert.Throws<UserInputException>(() => GeneratorFolder.Load(dir.Path)).Message);
        Assert.Contains("not found",
            Assert.Throws<UserInputException>(() => GeneratorFolder.Load(Path.Combine(dir.Path, "nope"))).Message);
    }
}
