using System.CommandLine;
using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip ablate`: the docs/model.md ablation table (each variant trained and scored the same way) plus
/// ridge.</summary>
public sealed class AblateCommand : ICliCommand
{
    public string[] Path => ["ablate"];
    public string Description =>
        "Train every ablation variant (full, no_cross, no_rec, semantic_only, detail_only, global_only, full_heads) " +
        "and the ridge baseline with the same data, split, seed and schedule; predict the test split; score " +
        "docs/evaluation.md retrieval. Writes OUT/<variant>/ run folders, OUT/ablations.json and OUT/ablations.csv; " +
        "prints the JSON.";

    static readonly RetrievalSettings D = new();

    public void Configure(Command command)
    {
        var data = SharedOptions.Data();
        var subject = SharedOptions.Subject();
        var features = new Option<string>("--features")
        { Description = "CLIP features of the TRAIN stimuli (train order).", Required = true };
        var featuresTest = new Option<string>("--features-test")
        { Description = "CLIP features of the TEST stimuli (test order).", Required = true };
        var config = new Option<string>("--config")
        {
            Description = "Base configuration for every variant: tiny, tiny-recon, paper or a .json.",
            DefaultValueFactory = _ => "tiny"
        };
        var output = new Option<string>("--out")
        { Description = "Output folder (one run folder per variant is (re)created inside).", Required = true };
        var variants = new Option<string?>("--variants")
        { Description = $"Comma-separated subset of: {string.Join(",", AblationRunner.Variants)} (default: all)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override training.epochs for every variant." };
        var seed = SharedOptions.SeedOverride();
        var loops = new Option<int>("--loops") { Description = "Retrieval loops.", DefaultValueFactory = _ => D.Loops };
        var batch = new Option<int>("--batch")
        { Description = "Retrieval samples per loop.", DefaultValueFactory = _ => D.Batch };
        var beta = SharedOptions.BetaScale();
        foreach (var o in new Option[]
            { data, subject, features, featuresTest, config, output, variants, epochs, seed, loops, batch,
            beta }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var cfg = BrainMClipConfig.Resolve(parse.GetValue(config)!);
            if (parse.GetValue(epochs) is { } e) cfg = cfg with { Training = cfg.Training with { Epochs = e } };
            if (parse.GetValue(seed) is { } s) cfg = cfg with { Training = cfg.Training with { Seed = s } };
            cfg.Validate("--epochs/--seed");
            var list = parse.GetValue(variants)?.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (list is not null)
                foreach (var v in list)
                    if (!AblationRunner.Variants.Contains(v)) throw new UserInputException(
                        $"--variants: unknown variant '{v}' (expected {string.Join(", ", AblationRunner.Variants)})");
            var subj = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            var result = TrainingPipeline.Ablate(subj, parse.GetValue(features)!, parse.GetValue(featuresTest)!, cfg,
                parse.GetValue(output)!,
                list, parse.GetValue(loops), parse.GetValue(batch), D.Seed, Console.Error);
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
