using System.Text.Json.Nodes;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>
/// generator train in the shared training loop: a run stopped after a checkpoint and resumed ends with the same bytes
/// as an uninterrupted one, and --resume refuses a run with other settings.
/// </summary>
public class GeneratorResumeTests
{
    /// <summary>Six 20-px images and 3 context tokens of width 8 (the same samples in the same order).</summary>
    internal static (string Images, string Features) Inputs(string root)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(1);
        var images = randint(0, 256, [6, 20, 20, 3], dtype: ScalarType.Byte, generator: g);
        var stim = Path.Combine(root, "stim.npy");
        Npy.WriteUInt8(stim, [6, 20, 20, 3], images.data<byte>().ToArray());
        var feat = Path.Combine(root, "feat.safetensors");
        SafeTensors.Save(feat, new Dictionary<string, Tensor> { ["semantic"] = randn([6, 3, 8], generator: g) });
        return (stim, feat);
    }

    internal static PixelGeneratorOptions Options(string root, string outDir)
    {
        var (images, features) = Inputs(root);
        return new PixelGeneratorOptions
        {
            ImagesPath = images,
            FeaturesPath = features,
            OutDir = outDir,
            Steps = 10,
            CheckpointEvery = 3,
            BatchSize = 2,
            Size = 32,
            Channels = [8, 8, 8],
            Seed = 4,
        };
    }

    static byte[] Unet(string dir) =>
        File.ReadAllBytes(Path.Combine(dir, "unet", "diffusion_pytorch_model.safetensors"));

    /// <summary>metrics.jsonl without the wall-clock field.</summary>
    static string Metrics(string dir) => string.Join("\n", File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"))
        .Select(l => { var o = JsonNode.Parse(l)!.AsObject(); o.Remove("seconds"); return o.ToJsonString(); }));

    [Fact]
    public void StoppedAndResumedRunEqualsAnUninterruptedOne()
    {
        using var dir = new TempDir();
        string a = Path.Combine(dir.Path, "a"), b = Path.Combine(dir.Path, "b");
        var full = PixelGeneratorTrainer.Train(Options(dir.Path, a), TextWriter.Null);
        Assert.True(full.Completed);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(a, "metrics.jsonl")).Length); // 3 + 3 + 3 + 1 steps

        var first = PixelGeneratorTrainer.Train(Options(dir.Path, b) with { StopAfterCheckpoints = 2 },
            TextWriter.Null);
        Assert.False(first.Completed);
        Assert.Equal(6, first.Steps);
        Assert.False(Directory.Exists(Path.Combine(b, "unet")));
        // Without --resume the run is not overwritten; with other settings it is not mixed.
        Assert.Throws<UserInputException>(() => PixelGeneratorTrainer.Train(Options(dir.Path, b), TextWriter.Null));
        Assert.Throws<UserInputException>(() => PixelGeneratorTrainer.Train(
            Options(dir.Path, b) with { Resume = true, Seed = 5 }, TextWriter.Null));
        var rest = PixelGeneratorTrainer.Train(Options(dir.Path, b) with { Resume = true }, TextWriter.Null);
        Assert.True(rest.Completed);
        Assert.Equal(full.FinalLoss, rest.FinalLoss);
        Assert.Equal(Unet(a), Unet(b));
        Assert.Equal(Metrics(a), Metrics(b));

        // The seed matters (the check above could not pass by ignoring it).
        var other = PixelGeneratorTrainer.Train(Options(dir.Path, Path.Combine(dir.Path, "c")) with { Seed = 5 },
            TextWriter.Null);
        Assert.NotEqual(Unet(a), Unet(other.OutDir));
    }
}
