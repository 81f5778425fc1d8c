using System.CommandLine;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip predict`: predicted tokens of a split from a trained run (PRED.safetensors,
/// docs/file-formats.md).</summary>
public sealed class PredictCommand : StageCommand<PredictCommand.Request, TrainingPipeline.PredictionFile>
{
    public sealed record Request(string Run, string Data, int Subject, string BetaScale, string Split, string Out,
        double? Fusion);

    public override string[] Path => ["predict"];
    public override string Description =>
        "Predict CLIP tokens for a split with a trained run (BrainMCLIP best checkpoint or ridge). Writes " +
        "PRED.safetensors with 'detail' (ê_D), 'semantic' (ê_S), 'detail_projected' (P(ê_D), to re-fuse at another " +
        "λ) and 'fused' (conditioning tokens).";

    readonly Option<string> run = new Option<string>("--run")
    { Description = "Run folder written by 'brainmclip train'.", Required = true };
    readonly Option<string> data = SharedOptions.Data();
    readonly Option<int> subject = SharedOptions.Subject();
    readonly Option<string> split = new Option<string>("--split")
    { Description = "Which rows to predict: test or train.", DefaultValueFactory = _ => "test" };
    readonly Option<string> output = new Option<string>("--out")
    { Description = "Output PRED.safetensors (written atomically).", Required = true };
    readonly Option<double?> fusion = new Option<double?>("--fusion")
    { Description = "Fusion weight λ in [0,1] for 'fused' (default: the run's fusion.lambda, 0.25)." };
    readonly Option<string> beta = SharedOptions.BetaScale();

    protected override Option[] Options => [run, data, subject, split, output, fusion, beta];

    protected override void ConfigureOptions() => split.AcceptOnlyFromAmong("train", "test");

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(run)!, parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!,
            parse.GetValue(split)!, parse.GetValue(output)!, parse.GetValue(fusion));

    public override TrainingPipeline.PredictionFile Execute(Request r) =>
        TrainingPipeline.PredictToFile(r.Run, NsdSubject.Open(r.Data, r.Subject, r.BetaScale), r.Split, r.Fusion,
            r.Out, Console.Error);

    public override object Report(Request request, TrainingPipeline.PredictionFile f)
    {
        var shapes = new JsonObject();
        foreach (var (name, shape) in f.Tensors) shapes[name] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray());
        return new JsonObject
        {
            ["out"] = System.IO.Path.GetFullPath(f.Path),
            ["split"] = f.Split,
            ["samples"] = f.Samples,
            ["model"] = f.Model,
            ["fusion_lambda"] = f.Lambda,
            ["tensors"] = shapes,
        };
    }
}
