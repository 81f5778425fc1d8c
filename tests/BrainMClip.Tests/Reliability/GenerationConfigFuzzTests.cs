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
        }, log, perCase: TimeSpan.FromSeconds(30), mutate: JsonMutator.Mutate); // model loads are slow on a busy 2-core CI
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
}
