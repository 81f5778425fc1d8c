using BrainMClip.Generation.Models;
using BrainMClip.Generation.Schedulers;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Mutated diffusers configs (UNet / VAE <c>config.json</c>, <c>scheduler_config.json</c>) through model loading and
/// scheduler set-up: every case loads or fails with a <see cref="UserInputException"/> naming the file.
/// </summary>
[Trait("Category", "Reliability")]
// Sequential: the fuzzer's per-case hang budget is wall-clock (a Task.Run item waited for 10 s); beside other tests
// on a loaded machine a case missed it (NIfTI case 1050, 30 Nov 2026, load 44) without hanging.
[Collection("Console")]
public class GenerationConfigFuzzTests(ITestOutputHelper log)
{
    static string Golden(string sub, string file) => TestPaths.Golden(Path.Combine("diffusion-tiny", sub, file));

    /// <summary>Mutated config.json next to the real weights, loaded through FromPretrained.</summary>
    Fuzzer.Result FuzzModelConfig(string name, string sub, int cases, Action<string> load)
    {
        var seeds = new[] { File.ReadAllBytes(Golden(sub, "config.json")) };
        return Fuzzer.Run(name, seeds, cases, "/config.json", p =>
        {
            string folder = Path.GetDirectoryName(p)!;
            string weights = Path.Combine(folder, "model.safetensors");
            if (!File.Exists(weights)) File.Copy(Golden(sub, "model.safetensors"), weights);
            using var scope = NewDisposeScope();
            load(folder);
            // model loads are slow on a busy 2-core CI
        }, log, perCase: TimeSpan.FromSeconds(30), mutate: JsonMutator.Mutate);
    }

    [Fact]
    public void UNetConfigRejectsMutationsCleanly()
    {
        var r = FuzzModelConfig("unet-config.json", "unet", 400, f => UNet2DConditionModel.FromPretrained(f).Dispose());
        Assert.True(r.Rejected > 0 && r.Accepted > 0);
    }

    [Fact]
    public void VaeConfigRejectsMutationsCleanly()
    {
        var r = FuzzModelConfig("vae-config.json", "vae", 400, f => AutoencoderKL.FromPretrained(f).Dispose());
        Assert.True(r.Rejected > 0 && r.Accepted > 0);
    }

    [Fact]
    public void SchedulerConfigRejectsMutationsCleanly()
    {
        var seeds = new[] { File.ReadAllBytes(Golden("ddim", "scheduler_config.json")) };
        var r = Fuzzer.Run("scheduler_config.json", seeds, 800, ".json", p =>
        {
            using var scope = NewDisposeScope();
            var ddim = DDIMScheduler.FromConfigFile(p);
            ddim.SetTimesteps(4);
        }, log, mutate: JsonMutator.Mutate);
        Assert.True(r.Rejected > 0 && r.Accepted > 0);
    }

    /// <summary>Each diffusers config type: an out-of-range value is rejected naming the file and the field.</summary>
    [Theory]
    [InlineData("unet", "block_out_channels", "[32, -64]")]
    [InlineData("unet", "layers_per_block", "0")]
    [InlineData("unet", "cross_attention_dim", "1e25")]
    [InlineData("unet", "transformer_layers_per_block", "100000")]
    [InlineData("unet", "norm_num_groups", "7")]
    [InlineData("vae", "in_channels", "-3")]
    [InlineData("vae", "out_channels", "1000000000")]
    [InlineData("vae", "norm_num_groups", "0")]
    [InlineData("vae", "scaling_factor", "-1")]
    [InlineData("ddim", "num_train_timesteps", "1e25")]
    [InlineData("ddim", "num_train_timesteps", "1")]
    [InlineData("ddim", "beta_schedule", "\"cosine\"")]
    [InlineData("ddim", "prediction_type", "\"x0\"")]
    public void OutOfRangeValueNamesTheField(string sub, string field, string value)
    {
        using var dir = new TempDir();
        string file = sub == "ddim" ? "scheduler_config.json" : "config.json";
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Golden(sub, file)))!.AsObject();
        cfg[field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        File.WriteAllText(Path.Combine(dir.Path, file), cfg.ToJsonString());
        if (sub != "ddim") File.Copy(Golden(sub, "model.safetensors"), Path.Combine(dir.Path, "model.safetensors"));
        var e = Assert.Throws<UserInputException>(() =>
        {
            using var scope = NewDisposeScope();
            if (sub == "unet") UNet2DConditionModel.FromPretrained(dir.Path).Dispose();
            else if (sub == "vae") AutoencoderKL.FromPretrained(dir.Path).Dispose();
            else DDIMScheduler.FromConfigFile(Path.Combine(dir.Path, file));
        });
        Assert.Contains(file, e.Message);
        Assert.Contains(field, e.Message);
    }
}
