using System.CommandLine;
using BrainMClip.Evaluation;

namespace BrainMClip.Cli.Commands;

/// <summary>`analyze-layers`: RSA of every CLIP layer against ROI groups and CKA between layers
/// (docs/evaluation.md).</summary>
public sealed class AnalyzeLayersCommand : StageCommand<AnalyzeLayersCommand.Request,
    (LayerAnalysisResult Result, IReadOnlyList<string> Files)>
{
    public sealed record Request(string Features, string Data, int Subject, string Split, string Out);

    public override string[] Path => ["analyze-layers"];
    public override string Description =>
        "Layer analysis behind the choice of CLIP layers 11-20: RSA (Spearman between each CLIP layer's RDM and each " +
        "ROI group's RDM; RDM = 1 - Pearson between samples) and linear CKA between every pair of layers. Writes " +
        "rsa.csv, cka.csv, rsa.png, cka.png and layers.json into --out; prints the best layer per ROI group as JSON.";

    readonly Option<string> feat = new Option<string>("--features")
    {
        Description = "Feature file with hidden_states.k tensors (brainmclip features --hidden-states), one " +
        "row per stimulus of --split.",
        Required = true
    };
    readonly Option<string> data = SharedOptions.Data();
    readonly Option<int> subject = SharedOptions.Subject();
    readonly Option<string> split = new Option<string>("--split")
    {
        Description = "Which split's fMRI rows match the feature rows: test or train.",
        DefaultValueFactory = _ => "test"
    };
    readonly Option<string> output = new Option<string>("--out") { Description = "Output folder.", Required = true };

    protected override Option[] Options => [feat, data, subject, split, output];

    public override Request Bind(ParseResult parse, CancellationToken cancel)
    {
        string sp = parse.GetValue(split)!;
        if (sp is not ("test" or "train")) throw new UserInputException($"--split {sp}: expected test or train");
        if (parse.GetValue(subject) < 1) throw new UserInputException("--subject must be 1 or more");
        return new Request(parse.GetValue(feat)!, parse.GetValue(data)!, parse.GetValue(subject), sp,
            parse.GetValue(output)!);
    }

    public override (LayerAnalysisResult Result, IReadOnlyList<string> Files) Execute(Request r)
    {
        var result = LayerAnalysisRunner.Run(r.Features, r.Data, r.Subject, r.Split, Console.Error);
        return (result, LayerAnalysisWriter.Write(result, r.Out));
    }

    public override object Report(Request request, (LayerAnalysisResult Result, IReadOnlyList<string> Files) r)
    {
        var result = r.Result;
        var best = result.RoiNames.Select((roi, j) =>
        {
            int b = Enumerable.Range(0, result.LayerNames.Length).MaxBy(i => result.Rsa[i, j]);
            return new { roi, layer = result.LayerNames[b], rsa = result.Rsa[b, j] };
        });
        return new
        { layers = result.LayerNames.Length, rois = result.RoiNames, best_layer_per_roi = best, files = r.Files };
    }
}
