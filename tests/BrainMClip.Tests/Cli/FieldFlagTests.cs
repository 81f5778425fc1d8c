using BrainMClip.Cli;
using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>
/// Core reports a bad setting in domain words with the record property it came from; the CLI names the flag that
/// fills it (by its kebab-case name, or the command's <see cref="ICliCommand.FieldFlags"/> where the two differ).
/// Each case fails in validation, before any file is read.
/// </summary>
[Collection("Console")]
public sealed class FieldFlagTests
{
    [Theory]
    // kebab-case name of the property: Steps → --steps
    [InlineData("--steps: sampling steps must be at least 1 (got 0)",
        "reconstruct", "--pred", "p", "--generator", "g", "--out", "o", "--steps", "0")]
    [InlineData("--attention-slice: attention slice must be at least 1 row (got 0)",
        "reconstruct", "--pred", "p", "--generator", "g", "--out", "o", "--attention-slice", "0")]
    // a Core value the CLI parses itself (Shard.Parse)
    [InlineData("--shard: shard '3/2': expected i/n", "features", "--clip", "c", "--input", "i", "--out", "o",
        "--shard", "3/2")]
    // names that differ: MaxLr → --lr, LowResFraction → --lowres (ClipTrainCommand.FieldFlags)
    [InlineData("--lr: learning rate must be a positive number (got 0)",
        "clip-train", "--out", "o", "--lr", "0")]
    [InlineData("--lowres: low-resolution fraction must be in [0, 1] (got 2)",
        "clip-train", "--out", "o", "--lowres", "2")]
    [InlineData("--train: too few training images: 1", "synth", "--out", "o", "--train", "1")]
    [InlineData("--image-size: image size 8 is out of range (16..1024)", "synth", "--out", "o", "--image-size", "8")]
    public void ACoreSettingErrorNamesTheFlag(string expected, params string[] args)
    {
        using var dir = new TempDir();
        for (int i = 0; i < args.Length - 1; i++)
            if (args[i] == "--out") args[i + 1] = Path.Combine(dir.Path, args[i + 1]);
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains("error: " + expected, err);
    }

    [Fact]
    public void AFieldNoOptionFillsIsReportedAsCoreSaysIt()
    {
        var root = Program.BuildRoot();
        var synth = (CliCommand)root.Subcommands.Single(c => c.Name == "synth");
        Assert.Equal("--image-size", synth.FlagOf("ImageSize"));
        Assert.Null(synth.FlagOf("ProbeImages"));
        var e = UserInputException.Invalid("ProbeImages", "probe of 3 scenes: expected at least 310");
        Assert.Equal("probe of 3 scenes: expected at least 310", CliCommand.Describe(e, synth));
        Assert.Equal("--image-size: x", CliCommand.Describe(UserInputException.Invalid("ImageSize", "x"), synth));
        Assert.Equal("fmri-dtype", CliCommand.Kebab("FmriDType"));
    }
}
