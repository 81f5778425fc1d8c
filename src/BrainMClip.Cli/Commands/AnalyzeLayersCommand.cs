using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evaluation;

namespace BrainMClip.Cli.Commands;

/// <summary>`analyze-layers`: RSA of every CLIP layer against ROI groups and CKA between layers
/// (docs/evaluation.md).</summary>
public sealed class AnalyzeLayersCommand : ICliCommand
{
    public string[] Path => ["analyze-layers"];
    public string Description =>
        "Layer analysis behind the choice of CLIP layers 11-20: RSA (Spearman between each CLIP layer's RDM and each " +
            "ROI " +
        "group's RDM; RDM = 1 - Pearson between samples) and linear CKA between every pair of layers. Writes " +
            "rsa.csv, " +
        "cka.csv, rsa.png, cka.png and layers.json into --out; prints the best layer per ROI group as JSON.";

    public void Configure(Command command)
    {
        var feat = new Option<string>("--features")
        {
            Description = "Feature file with hidden_states.k tensors (brainmclip features --hidden-states), one " +
            "row per stimulus of --split.",
            Required = true
        };
        var data = SharedOptions.Data();
        var subject = SharedOptions.Subject();
        var split = new Option<string>("--split")
        {
            Description = "Which split's fMRI rows match the feature rows: test or train.",
            DefaultValueFactory = _ => "test"
        };
        var output = new Option<string>("--out") { Description = "Output folder.", Required = true };
        foreach (var o in new Option[] { feat, data, subject, split, output }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string sp = parse.GetValue(split)!;
            if (sp is not ("test" or "train")) throw new UserInputException($"--split {sp}: expected test or train");
            if (parse.GetValue(subject) < 1) throw new UserInputException("--subject must be 1 or more");
            var result = LayerAnalysisRunner.Run(parse.GetValue(feat)!, parse.GetValue(data)!, parse.GetValue(subject),
                sp, Console.Error);
            var files = LayerAnalysisWriter.Write(result, parse.GetValue(output)!);
            var best = result.RoiNames.Select((roi, j) =>
            {
                int b = Enumerable.Range(0, result.LayerNames.Length).MaxBy(i => result.Rsa[i, j]);
                return new { roi, layer = result.LayerNames[b], rsa = result.Rsa[b, j] };
            });
            Console.WriteLine(
                JsonSerializer.Serialize(
                new { layers = result.LayerNames.Length, rois = result.RoiNames, best_layer_per_roi = best, files },
                new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
