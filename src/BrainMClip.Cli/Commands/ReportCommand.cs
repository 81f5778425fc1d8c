using System.CommandLine;
using System.Text.Json;
using BrainMClip.Report;

namespace BrainMClip.Cli.Commands;

/// <summary>`report`: a self-contained HTML report from whatever results exist.</summary>
public sealed class ReportCommand : ICliCommand
{
    public string[] Path => ["report"];
    public string Description =>
        "Write a self-contained report.html (images embedded, no external files): ground truth beside " +
            "reconstructions, " +
        "metrics beside the published MindEye1/MindEye2 figures, retrieval, training curves, ablations, parameter " +
            "counts " +
        "and the layer-analysis heatmaps. Every input is optional; a section without input says so.";

    public void Configure(Command command)
    {
        var output = new Option<string>("--out") { Description = "Where to write the HTML report.", Required = true };
        var run = new Option<string?>("--run")
        {
            Description = "Training run folder (its metrics.jsonl gives the training curves; params.json if " +
            "present)."
        };
        var metrics = new Option<string?>("--metrics")
        { Description = "METRICS.json written by `brainmclip evaluate`." };
        var retrieval = new Option<string?>("--retrieval")
        { Description = "Retrieval JSON (stdout of `brainmclip retrieve`)." };
        var recons = new Option<string?>("--recons")
        {
            Description = "Folder of numbered reconstructions (rec_007.png, ...) or an .npy (N,H,W,3) for the " +
            "image grid."
        };
        var truth = new Option<string?>("--truth")
        { Description = "Ground truth for the grid: numbered images or an .npy (N,H,W,3), paired by number/row." };
        var layers = new Option<string?>("--layers")
        { Description = "Output folder of `brainmclip analyze-layers` (rsa/cka CSV and PNG)." };
        var prms = new Option<string?>("--params")
        { Description = "Parameter counts JSON (stdout of `brainmclip params`)." };
        var ablations = new Option<string?>("--ablations")
        {
            Description = "Ablation results JSON: an array of objects or an object of objects (one row per " +
            "variant)."
        };
        var title = new Option<string>("--title")
        { Description = "Report title.", DefaultValueFactory = _ => "BrainMClip report" };
        var grid = new Option<int>("--grid")
        { Description = "Maximum number of image pairs in the grid.", DefaultValueFactory = _ => 16 };
        foreach (var o in new Option[]
            { output, run, metrics, retrieval, recons, truth, layers, prms, ablations, title,
            grid }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            if (parse.GetValue(grid) < 1) throw new UserInputException("--grid must be at least 1");
            var inputs = new ReportInputs
            {
                RunDir = parse.GetValue(run),
                MetricsJson = parse.GetValue(metrics),
                RetrievalJson = parse.GetValue(retrieval),
                ReconDir = parse.GetValue(recons),
                TruthSource = parse.GetValue(truth),
                LayersDir = parse.GetValue(layers),
                ParamsJson = parse.GetValue(prms),
                AblationsJson = parse.GetValue(ablations),
                Title = parse.GetValue(title)!,
                MaxGridImages = parse.GetValue(grid),
            };
            string path = ReportBuilder.Write(inputs, parse.GetValue(output)!);
            Console.WriteLine(
                JsonSerializer.Serialize(
                new { report = System.IO.Path.GetFullPath(path), bytes = new FileInfo(path).Length }));
            return 0;
        });
    }
}
