using BrainMClip.Features;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Training;
using BrainMClip.Optimization;
using BrainMClip.Simulation.TargetEncoder;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Optimization;

/// <summary>
/// <see cref="ModuleInit.Default"/> from a run generator equals the constructors' own draws after <c>manual_seed</c>
/// (what clip-train and generator train did before the training loop): the shipped encoder's recipe stays
/// reproducible without touching the process-wide generator.
/// </summary>
[Collection("Console")]
public class ModuleInitTests
{
    static void AssertSameWeights(nn.Module a, nn.Module b, string what)
    {
        var sb = b.state_dict();
        foreach (var (k, v) in a.state_dict())
            Assert.True(v.eq(sb[k]).all().item<bool>(),
                $"{what}: {k} differs by up to {(v - sb[k]).abs().max().item<float>()}");
    }

    [Fact]
    public void ClipTrainingNetInitMatchesManualSeed()
    {
        var cfg = ClipVisionConfig.Preset("tiny") with { NumHiddenLayers = 2 };
        manual_seed(11);
        using var reference = new ClipTrainingNet(cfg, 12, 4, 1);
        manual_seed(99);
        using var net = new ClipTrainingNet(cfg, 12, 4, 1);
        using var gen = new Generator(11);
        ModuleInit.Default(net, gen);
        AssertSameWeights(reference, net, "clip");
    }

    [Fact]
    public void UNetInitMatchesManualSeed()
    {
        var cfg = PixelGeneratorTrainer.SmallConfig(32, 16);
        manual_seed(5);
        using var reference = new UNet2DConditionModel(cfg);
        manual_seed(6);
        using var net = new UNet2DConditionModel(cfg);
        using var gen = new Generator(5);
        ModuleInit.Default(net, gen);
        AssertSameWeights(reference, net, "unet");
    }
}
