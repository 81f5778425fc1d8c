using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip study`: the network against ridge over training-set sizes and seeds, plus the
/// ablations.</summary>
public sealed class StudyCommand : ICliCommand
{
    public string[] Path => ["study"];
    public string Description =>
        "Train ridge and the network at every --sizes training-set size and seed (the learning curve) and every " +
            "ablation at " +
        "the largest size; score test retrieval (both directions, 300-way) with the paired network − ridge " +
            "difference and its " +
        "95% bootstrap CI over test images. Writes OUT/results.json, results.csv, learning_curve.png, ablations.png " +
            "and " +
        "OUT/runs/n{size}/seed{s}/{variant}/; re-running the same command resumes (finished runs are kept).";

    static readonly StudyOptions D = Defaults.Of<StudyOptions>();

    public void Configure(Command command)
    {
        var data = new Option<string>("--data")
        { Description = "Data root in the Brain-Diffuser layout.", Required = true };
        var subject = SharedOptions.Subject();
        var featTrain = new Option<string>("--features-train")
        { Description = "CLIP features of the TRAIN stimuli (train order).", Required = true };
        var featTest = new Option<string>("--features-test")
        { Description = "CLIP features of the TEST stimuli (test order).", Required = true };
        var config = new Option<string>("--config")
        {
            Description = "The network's configuration: tiny, tiny-recon, paper or a .json.",
            DefaultValueFactory = _ => "tiny",
        };
        var output = new Option<string>("--out")
        { Description = "Study folder (created; re-run to resume).", Required = true };
        var sizes = new Option<string?>("--sizes")
        { Description = "Comma-separated training-set sizes (default: all training samples)." };
        var seeds = new Option<int>("--seeds")
        { Description = "Seeds per size (subset, initialisation, batch order).", DefaultValueFactory = _ => D.Seeds };
        var ablations = new Option<string>("--ablations")
        {
            Description = $"Comma-separated ablations at the largest size, or 'none' (default: " +
            $"{string.Join(",", Study.DefaultAblations)}; also: full_heads).",
            DefaultValueFactory = _ => string.Join(",", D.Ablations)
        };
        var baselines = BaselinesOption();
        var ablationSeeds = new Option<int>("--ablation-seeds")
        { Description = "Seeds per ablation (at most --seeds).", DefaultValueFactory = _ => D.AblationSeeds };
        var epochs = new Option<int?>("--epochs") { Description = "Override training.epochs of the network." };
        var loops = new Option<int>("--loops")
        { Description = "Retrieval loops.", DefaultValueFactory = _ => D.Retrieval.Loops };
        var batch = new Option<int>("--batch")
        { Description = "Retrieval samples per loop.", DefaultValueFactory = _ => D.Retrieval.Batch };
        var bootstrap = new Option<int>("--bootstrap")
        { Description = "Bootstrap resamples of the paired CI.", DefaultValueFactory = _ => D.BootstrapResamples };
        var beta = SharedOptions.BetaScale();
        var threads = SharedOptions.Threads();
        foreach (var o in new Option[]
            { data, subject, featTrain, featTest, config, output, sizes, seeds, ablations, baselines, ablationSeeds,
            epochs, loops, batch, bootstrap, beta, threads })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            SharedOptions.ApplyThreads(parse.GetValue(threads));
            var cfg = BrainMClipConfig.Resolve(parse.GetValue(config)!);
            if (cfg.IsRidge) throw new UserInputException(
                "--config ridge: the study trains ridge itself; give the network's configuration");
            if (parse.GetValue(epochs) is { } e) cfg = cfg with { Training = cfg.Training with { Epochs = e } };
            cfg.Validate("--epochs");
            var subj = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            var sizeList = parse.GetValue(sizes) is { } sz ? ParseSizes(sz) : [subj.TrainSamples];
            var ablList = ParseList(parse.GetValue(ablations)!, "--ablations", "an ablation",
                AblationRunner.Variants.Where(x => x is not ("full" or "ridge")).ToList());
            var basList = ParseList(parse.GetValue(baselines)!, "--baselines", "a baseline", AblationRunner.Baselines);
            if (parse.GetValue(seeds) < 1) throw new UserInputException(
                $"--seeds {parse.GetValue(seeds)}: expected >= 1");
            var opts = new StudyOptions
            {
                Network = cfg,
                Sizes = sizeList,
                Seeds = parse.GetValue(seeds),
                Ablations = ablList,
                Baselines = basList,
                AblationSeeds = Math.Max(1, parse.GetValue(ablationSeeds)),
                Retrieval = D.Retrieval with { Loops = parse.GetValue(loops), Batch = parse.GetValue(batch) },
                BootstrapResamples = parse.GetValue(bootstrap),
            };
            var result = Study.Run(subj, parse.GetValue(featTrain)!, parse.GetValue(featTest)!, opts,
                parse.GetValue(output)!);
            result.Remove("runs");
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }

    static Option<string> BaselinesOption() => new("--baselines")
    {
        Description = "Comma-separated matched baselines trained at every size and seed beside ridge and the " +
            $"network, or 'none' (default): {string.Join(", ", AblationRunner.Baselines)} (docs/evidence.md).",
        DefaultValueFactory = _ => "none",
    };

    /// <summary>A comma-separated list of names from <paramref name="allowed"/>, or "none".</summary>
    static string[] ParseList(string text, string flag, string what, IReadOnlyList<string> allowed)
    {
        var list = text == "none" ? [] : text.Split(',',
            StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var v in list)
            if (!allowed.Contains(v))
                throw new UserInputException($"{flag}: '{v}' is not {what} (expected some of " +
                    $"{string.Join(", ", allowed)}, or none)");
        return list;
    }

    static int[] ParseSizes(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x =>
            int.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                : throw new UserInputException($"--sizes: '{x}' is not a positive integer")).ToArray();
}
