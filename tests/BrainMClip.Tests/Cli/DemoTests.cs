using BrainMClip.Cli;
using BrainMClip.Cli.Commands;
using BrainMClip.Cli.Demo;
using BrainMClip.Data;
using BrainMClip.Simulation;
using BrainMClip.Simulation.TargetEncoder;
using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>The demo's stages bind the command lines they echo with the commands' own binders.</summary>
public class DemoPipelineTests
{
    static TRequest Bind<TRequest, TResult>(StageCommand<TRequest, TResult> command, string[] args)
    {
        var parse = Program.Parse(command, args);
        Assert.Empty(parse.Errors);
        return command.Bind(parse, CancellationToken.None);
    }

    [Fact]
    public void TrainedEncoderIsClipTrainWithTheDemoSizes()
    {
        var o = new DemoOptions
        { OutDir = "out", Encoder = "trained", World = "hierarchical", ClipImages = 321, ClipEpochs = 3, Seed = 5 };
        var demo = new DemoPipeline(o);
        string[] args = demo.EncoderCommandLine();
        Assert.Equal("clip-train", args[0]);
        var r = Bind(new ClipTrainCommand(), args);
        Assert.Equal((Path.Combine("out", "clip"), "tiny", 321, 3, 5),
            (r.Options.OutDir, r.Options.Preset, r.Options.Images, r.Options.Epochs, r.Options.Seed));
        Assert.Equal(new ClipTrainOptions { OutDir = "x" }.BatchSize, r.Options.BatchSize); // clip-train's own default

        var synth = Bind(new SynthCommand(), demo.SynthCommandLine());
        Assert.Equal(SynthWorld.Hierarchical, synth.World);
        Assert.Equal(
            "BrainMClip demo (synthetic hierarchical-world subject, CLIP trained by clip-train in this run)", o.Title);
    }

    /// <summary>Stage 8's command line is the generator design docs/generation.md measured, with one torch thread
    /// (it runs beside the network's training).</summary>
    [Fact]
    public void GeneratorIsThePixelShuffleDesignWithOneThread()
    {
        var demo = new DemoPipeline(new DemoOptions { OutDir = "out", Seed = 4 });
        string[] args = demo.GeneratorCommandLine("train.npy");
        var command = new GeneratorTrainCommand();
        var parse = Program.Parse(command, args);
        Assert.Empty(parse.Errors);
        var g = command.BindOptions(parse);
        Assert.Equal((2000, 8, 3e-3, 8, "sample", true, 4, "semantic+detail", 4L),
            (g.Steps, g.BatchSize, g.LearningRate, g.AttentionResolution, g.Prediction, g.ContextMap,
                g.ContextMapShuffle, g.Context, g.Seed));
        Assert.Equal(("train.npy", Path.Combine("out", "generator")), (g.ImagesPath, g.OutDir));
        Assert.Equal("1", args[Array.IndexOf(args, "--threads") + 1]);
    }

    [Fact]
    public void ShippedEncoderRunsTheHierarchicalWorld()
    {
        var o = new DemoOptions { OutDir = "out", Seed = 2, World = "hierarchical", Encoder = "shipped" };
        Assert.Equal(SynthWorld.Hierarchical, Bind(new SynthCommand(), new DemoPipeline(o).SynthCommandLine()).World);
        Assert.Equal("BrainMClip demo (synthetic hierarchical-world subject, CLIP trained by clip-train, shipped)",
            o.Title);
    }

    [Fact]
    public void DefaultIsTheHierarchicalWorldWithTheShippedEncoder()
    {
        var o = new DemoOptions { OutDir = "out", Seed = 2 };
        Assert.Equal(("hierarchical", "shipped"), (o.World, o.Encoder));
        // The network the demo trains and its data size (docs/evidence.md § 6: tiny-recon beats ridge's images at
        // 4,000 samples, not at 2,000).
        Assert.Equal(("tiny-recon", 4000), (o.Config, o.Train));
        var synth = Bind(new SynthCommand(), new DemoPipeline(o).SynthCommandLine());
        Assert.Equal(SynthWorld.Hierarchical, synth.World);
        // The demo's brain sees colour as well as edges, so its reconstructions can get colours right.
        Assert.Equal(SyntheticNsd.DemoPrfColour, synth.PrfColour);
    }

    [Fact]
    public void LinearWorldWithARandomEncoderIsClipInit()
    {
        var o = new DemoOptions { OutDir = "out", Seed = 2, World = "linear", Encoder = "random" };
        var demo = new DemoPipeline(o);
        var init = Bind(new ClipInitCommand(), demo.EncoderCommandLine());
        Assert.Equal(new ClipInitCommand.Request(Path.Combine("out", "clip"), "tiny", 2), init);
        var synth = Bind(new SynthCommand(), demo.SynthCommandLine());
        Assert.Equal((SynthWorld.Linear, 0.0), (synth.World, synth.PrfColour));
        Assert.Equal("BrainMClip demo (synthetic linear-world subject, random-weight CLIP)", o.Title);
    }

    [Fact]
    public void AnUnknownWorldOrEncoderIsRefusedBeforeAnythingIsWritten()
    {
        using var dir = new TempDir();
        string outDir = Path.Combine(dir.Path, "demo");
        var e = Assert.Throws<UserInputException>(() =>
            new DemoPipeline(new DemoOptions { OutDir = outDir, Encoder = "pretrained" }).Run());
        Assert.Contains("pretrained", e.Message);
        Assert.False(Directory.Exists(outDir));
    }
}

/// <summary>A command prints exactly the JSON the demo keeps for the same result (one code path).</summary>
[Collection("Console")]
public class StageCommandTests
{
    [Fact]
    public void CommandOutputIsTheStageJson()
    {
        string[] args = ["params", "--config", "tiny", "--voxels-detail", "40", "--voxels-semantic", "12", "--json"];
        var (code, stdout, _) = CliRunner.Run(args);
        Assert.Equal(0, code);
        var command = new ParamsCommand();
        var request = command.Bind(Program.Parse(command, args), CancellationToken.None);
        var summary = command.Execute(request);
        Assert.Equal(stdout, command.Json(request, summary) + Environment.NewLine);
        Assert.True(summary.Total > 0);
        Assert.Contains($"\"total\": {summary.Total}", stdout);
    }

    [Theory]
    [InlineData("--world", "flat")]
    [InlineData("--encoder", "pretrained")]
    public void DemoRefusesUnknownChoicesAsUsageErrors(string option, string value)
    {
        using var dir = new TempDir();
        var (code, _, err) = CliRunner.Run("demo", "--out", Path.Combine(dir.Path, "d"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(value, err);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "d")));
    }
}
