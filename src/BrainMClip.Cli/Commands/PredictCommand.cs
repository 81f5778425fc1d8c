using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip predict`: predicted tokens of a split from a trained run (SPEC §6 PRED.safetensors).</summary>
public sealed class PredictCommand : ICliCommand
{
    public string[] Path => ["predict"];
    public string Description =>
        "Predict CLIP tokens for a split with a trained run (BrainMCLIP best checkpoint or ridge). Writes PRED.safetensors with " +
        "'detail' (ê_D), 'semantic' (ê_S), 'detail_projected' (P(ê_D), to re-fuse at another λ) and 'fused' (conditioning tokens).";

    public void Configure(Command command)
    {
        var run = new Option<string>("--run") { Description = "Run folder written by 'brainmclip train'.", Required = true };
        var data = new Option<string>("--data") { Description = "Data root in the Brain-Diffuser layout.", Required = true };
        var subject = new Option<int>("--subject") { Description = "Subject number (1-based).", DefaultValueFactory = _ => 1 };
        var split = new Option<string>("--split") { Description = "Which rows to predict: test or train.", DefaultValueFactory = _ => "test" };
        split.AcceptOnlyFromAmong("train", "test");
        var output = new Option<string>("--out") { Description = "Output PRED.safetensors (written atomically).", Required = true };
        var fusion = new Option<double?>("--fusion") { Description = "Fusion weight λ in [0,1] for 'fused' (default: the run's fusion.lambda, 0.25)." };
        var beta = new Option<string>("--beta-scale") { Description = "fMRI scaling: auto, none, or a divisor (use the training setting).", DefaultValueFactory = _ => "auto" };
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
            foreach (var (name, t) in pred.Named()) shapes[name] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray());
            var report = new JsonObject
            {
                ["out"] = System.IO.Path.GetFullPath(outPath), ["split"] = sp, ["samples"] = pred.Fused!.shape[0],
                ["model"] = pred.Model, ["fusion_lambda"] = pred.Lambda, ["tensors"] = shapes,
            };
            Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
