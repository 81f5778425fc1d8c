using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip predict`: predicted tokens of a split from a trained run (PRED.safetensors,
/// docs/file-formats.md).</summary>
public sealed class PredictCommand : ICliCommand
{
    public string[] Path => ["predict"];
    public string Description =>
        "Predict CLIP tokens for a split with a trained run (BrainMCLIP best checkpoint or ridge). Writes " +
            "PRED.safetensors with " +
        "'detail' (ê_D), 'semantic' (ê_S), 'detail_projected' (P(ê_D), to re-fuse at another λ) and 'fused' " +
            "(conditioning tokens).";

    public void Configure(Command command)
    {
        var run = new Option<string>("--run")
        { Description = "Run folder written by 'brainmclip train'.", Required = true };
        var data = SharedOptions.Data();
        var subject = SharedOptions.Subject();
        var split = new Option<string>("--split")
        { Description = "Which rows to predict: test or train.", DefaultValueFactory = _ => "test" };
        split.AcceptOnlyFromAmong("train", "test");
        var output = new Option<string>("--out")
        { Description = "Output PRED.safetensors (written atomically).", Required = true };
        var fusion = new Option<double?>("--fusion")
        { Description = "Fusion weight λ in [0,1] for 'fused' (default: the run's fusion.lambda, 0.25)." };
        var beta = SharedOptions.BetaScale();
        foreach (var o in new Option[] { run, data, subject, split, output, fusion, beta }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var subj = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            string sp = parse.GetValue(split)!, outPath = parse.GetValue(output)!, runDir = parse.GetValue(run)!;
            using var pred = TrainingPipeline.Predict(runDir, subj, sp, parse.GetValue(fusion), Console.Error);
            pred.Save(outPath, new Dictionary<string, string>
            {
                ["run"] = System.IO.Path.GetFullPath(runDir),
                ["split"] = sp,
                ["subject"] = subj.Subject.ToString(CultureInfo.InvariantCulture),
            });
            var shapes = new JsonObject();
            foreach (var (name, t) in pred.Named()) shapes[name] = new JsonArray(t.shape.Select(d => (JsonNode)d)
                .ToArray());
            var report = new JsonObject
            {
                ["out"] = System.IO.Path.GetFullPath(outPath),
                ["split"] = sp,
                ["samples"] = pred.Fused!.shape[0],
                ["model"] = pred.Model,
                ["fusion_lambda"] = pred.Lambda,
                ["tensors"] = shapes,
            };
            Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
