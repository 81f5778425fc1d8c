using BrainMClip.Generation.Training;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Generation;

/// <summary><c>generator train --threads-from STEP:N</c> (the demo widens its generator to both cores at a fixed
/// step): parsing, the error a bad value gets, and that it is not part of the run's identity (a resumed run may use
/// another schedule, as it may use another --threads).</summary>
[Collection("Console")]
public class ThreadsFromTests
{
    [Theory]
    [InlineData("1500:2", 1500, 2)]
    [InlineData("0:1", 0, 1)]
    public void ParsesStepAndThreads(string text, int step, int threads) =>
        Assert.Equal(new ThreadsFromStep(step, threads), ThreadsFromStep.Parse(text));

    [Theory]
    [InlineData("1500")]
    [InlineData("1500:0")]
    [InlineData("-1:2")]
    [InlineData("a:2")]
    [InlineData("1:2:3")]
    public void RejectsWhatIsNotStepColonThreads(string text)
    {
        var ex = Assert.Throws<UserInputException>(() => ThreadsFromStep.Parse(text));
        Assert.Contains("STEP:N", ex.Message);
    }

    [Fact]
    public void CliNamesTheFlagAndExitsTwo()
    {
        using var dir = new TempDir();
        var (images, features) = GeneratorResumeTests.Inputs(dir.Path);
        var (code, _, err) = CliRunner.Run("generator", "train", "--images", images, "--features", features, "--out",
            Path.Combine(dir.Path, "g"), "--steps", "2", "--threads-from", "two:2");
        Assert.Equal(2, code);
        Assert.Contains("threads-from 'two:2'", err);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "g", "train-state")));
    }

    [Fact]
    public void ResumingWithAnotherScheduleIsAccepted()
    {
        using var dir = new TempDir();
        var o = GeneratorResumeTests.Options(dir.Path, Path.Combine(dir.Path, "g")) with
        {
            StopAfterCheckpoints = 1,
            ThreadsFrom = new ThreadsFromStep(100, TorchSharp.torch.get_num_threads()),
        };
        Assert.False(PixelGeneratorTrainer.Train(o, TextWriter.Null).Completed);
        var resumed = PixelGeneratorTrainer.Train(o with { Resume = true, StopAfterCheckpoints = null, ThreadsFrom = null },
            TextWriter.Null);
        Assert.True(resumed.Completed);
    }
}
