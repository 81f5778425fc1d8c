using System.CommandLine;
using BrainMClip.Cli.Demo;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip demo`: the whole pipeline on synthetic data with random-weight models, no downloads.</summary>
public sealed class DemoCommand : ICliCommand
{
    public string[] Path => ["demo"];
    public string Description =>
        "Run the whole job on synthetic NSD-like data: write data in the real formats, extract CLIP features with a " +
        "random-weight CLIP, train BrainMCLIP (and the ridge baseline), reconstruct images from BrainMCLIP's and " +
            "ridge's " +
        "predictions and from the true features (upper bound), score all eight metrics (random-weight metric " +
            "networks " +
        "from nets-init, labelled as such), write report.html.";

    public void Configure(Command command)
    {
        var outDir = new Option<string?>("--out")
        { Description = "Output folder (default: a new ./demo-out-<time> folder)." };
        var force = new Option<bool>("--force")
        { Description = "Allow writing into a non-empty --out folder (its files may be replaced)." };
        var train = new Option<int>("--train")
        { Description = "Synthetic training images.", DefaultValueFactory = _ => 600 };
        var test = new Option<int>("--test") { Description = "Synthetic test images.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed")
        { Description = "Seed for data, models and training.", DefaultValueFactory = _ => 0 };
        var epochs = new Option<int?>("--epochs")
        { Description = "BrainMCLIP training epochs (default: the tiny preset's)." };
        var quick = new Option<bool>("--quick") { Description = "Tiny sizes for a smoke run (about a minute)." };
        foreach (var opt in new Option[] { outDir, force, train, test, seed, epochs, quick }) command.Options.Add(opt);
        command.SetAction(parse =>
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
                GeneratorSteps = q ? 40 : 300,
                // 12 DDIM steps: three rows of 100 images (upper bound, BrainMCLIP, ridge) fit the 10-minute budget.
                DiffusionSteps = q ? 5 : 12,
            };
            try { return new DemoPipeline(o).Run(); }
            catch (DemoStageException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return e.Code;
            }
        });
    }
}
