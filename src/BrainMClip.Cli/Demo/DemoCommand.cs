using System.CommandLine;

namespace BrainMClip.Cli.Demo;

/// <summary>`brainmclip demo`: the whole pipeline on synthetic data, no downloads.</summary>
public sealed class DemoCommand : ICliCommand
{
    public string[] Path => ["demo"];
    public string Description =>
        "Run the whole job on synthetic NSD-like data: write data in the real formats (--world), take a CLIP " +
        "(--encoder: the shipped one trained by clip-train, random weights, or trained in the run) and extract its " +
        "features, train BrainMCLIP (and the " +
        "ridge baseline), reconstruct images from BrainMCLIP's and ridge's predictions and from the true features " +
        "(upper bound), score all eight metrics (random-weight metric networks from nets-init, labelled as such), " +
        "write report.html. Each stage echoes the equivalent brainmclip command line.";

    static readonly DemoOptions D = Defaults.Of<DemoOptions>();

    public void Configure(Command command)
    {
        var outDir = new Option<string?>("--out")
        { Description = "Output folder (default: a new ./demo-out-<time> folder)." };
        var force = new Option<bool>("--force")
        { Description = "Allow writing into a non-empty --out folder (its files may be replaced)." };
        var train = new Option<int>("--train")
        { Description = "Synthetic training images.", DefaultValueFactory = _ => D.Train };
        var test = new Option<int>("--test")
        { Description = "Synthetic test images.", DefaultValueFactory = _ => D.Test };
        var seed = new Option<int>("--seed")
        { Description = "Seed for data, models and training.", DefaultValueFactory = _ => D.Seed };
        var epochs = new Option<int?>("--epochs")
        { Description = "BrainMCLIP training epochs (default: the configuration's)." };
        var config = new Option<string>("--config")
        {
            Description = "BrainMCLIP network configuration for the training stage (train --config): tiny-recon " +
                          "(default: tiny with its detail stream trained for reconstruction), tiny, paper or a .json " +
                          "such as {\"base\": \"tiny\", \"model\": {\"head\": \"full\"}} (docs/evidence.md).",
            DefaultValueFactory = _ => D.Config,
        };
        var quick = new Option<bool>("--quick") { Description = "Tiny sizes for a smoke run (about a minute)." };
        var world = new Option<string>("--world")
        {
            Description = "Simulated world of the subject (synth --world): hierarchical (object scenes, " +
                          "retinotopic and category-selective voxels, docs/simulation.md; default) or linear " +
                          "(shapes, voxels linear in pooled features; pair with --encoder random).",
            DefaultValueFactory = _ => D.World,
        };
        world.AcceptOnlyFromAmong(DemoOptions.Worlds);
        var encoder = new Option<string>("--encoder")
        {
            Description = "The CLIP whose features are the targets: shipped (default; the encoder clip-train made " +
                          "for the hierarchical world, assets/encoders/world-tiny), random (clip-init, seeded random " +
                          "weights) or trained (clip-train --preset tiny in this run, --clip-images x --clip-epochs; " +
                          "~4 min, weaker).",
            DefaultValueFactory = _ => D.Encoder,
        };
        encoder.AcceptOnlyFromAmong(DemoOptions.Encoders);
        var clipImages = new Option<int>("--clip-images")
        { Description = "--encoder trained: clip-train's scenes per epoch.", DefaultValueFactory = _ => D.ClipImages };
        var clipEpochs = new Option<int>("--clip-epochs")
        { Description = "--encoder trained: clip-train's epochs.", DefaultValueFactory = _ => D.ClipEpochs };
        foreach (var opt in new Option[]
            { outDir, force, train, test, seed, epochs, config, quick, world, encoder, clipImages, clipEpochs })
            command.Options.Add(opt);
        command.SetAction((parse, cancel) =>
        {
            string dir = parse.GetValue(outDir) ?? $"demo-out-{DateTime.Now:yyyyMMdd-HHmmss}";
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any() && !parse.GetValue(force))
                throw new UserInputException($"{dir}: folder is not empty; choose another --out or pass --force");
            bool q = parse.GetValue(quick);
            var o = new DemoOptions
            {
                OutDir = dir,
                Train = q ? 120 : parse.GetValue(train),
                Test = q ? 30 : parse.GetValue(test),
                Seed = parse.GetValue(seed),
                Epochs = q ? 3 : parse.GetValue(epochs),
                Config = parse.GetValue(config)!,
                GeneratorSteps = q ? 40 : DemoOptions.DefaultGeneratorSteps,
                // 12 DDIM steps: three rows of 100 images (upper bound, BrainMCLIP, ridge) fit the 10-minute budget.
                DiffusionSteps = q ? 5 : 12,
                World = parse.GetValue(world)!,
                Encoder = parse.GetValue(encoder)!,
                ClipImages = q ? 200 : parse.GetValue(clipImages),
                ClipEpochs = q ? 2 : parse.GetValue(clipEpochs),
            };
            try { return Task.FromResult(new DemoPipeline(o, cancel).Run()); }
            catch (DemoStageException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return Task.FromResult(e.Code);
            }
        });
    }
}
