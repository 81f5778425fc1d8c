using System.CommandLine;
using System.Text.Json;
using BrainMClip.Report;

namespace BrainMClip.Cli.Commands;

/// <summary>`report`: a self-contained HTML report from whatever results exist.</summary>
public sealed class ReportCommand : StageCommand<ReportCommand.Request, string>
{
    public sealed record Request(ReportInputs Inputs, string Out);

    static readonly ReportInputs D = Defaults.Of<ReportInputs>();

    public override string[] Path => ["report"];
    public override string Description =>
        "Write a self-contained report.html (images embedded, no external files): ground truth beside " +
        "reconstructions, one column per reconstruction row (from true features, BrainMCLIP, baselines such as " +
        "ridge) for metrics and retrieval, the published MindEye1/MindEye2 figures only for real NSD data, training " +
        "curves, ablations, parameter counts and the layer-analysis heatmaps. Every input is optional; a section " +
        "without input says so.";

    readonly Option<string> output = new Option<string>("--out")
    { Description = "Where to write the HTML report.", Required = true };
    readonly Option<string?> run = new Option<string?>("--run")
    {
        Description = "Training run folder (its metrics.jsonl gives the training curves; params.json if " +
        "present)."
    };
    readonly Option<string?> metrics = new Option<string?>("--metrics")
    { Description = "METRICS.json written by `brainmclip evaluate`." };
    readonly Option<string?> retrieval = new Option<string?>("--retrieval")
    { Description = "Retrieval JSON (stdout of `brainmclip retrieve`)." };
    readonly Option<string?> recons = new Option<string?>("--recons")
    {
        Description = "Folder of numbered reconstructions (rec_007.png, ...) or an .npy (N,H,W,3) for the " +
        "image grid."
    };
    readonly Option<string?> truth = new Option<string?>("--truth")
    { Description = "Ground truth for the grid: numbered images or an .npy (N,H,W,3), paired by number/row." };
    readonly Option<string?> layers = new Option<string?>("--layers")
    { Description = "Output folder of `brainmclip analyze-layers` (rsa/cka CSV and PNG)." };
    readonly Option<string?> prms = new Option<string?>("--params")
    { Description = "Parameter counts JSON (stdout of `brainmclip params`)." };
    readonly Option<string?> ablations = new Option<string?>("--ablations")
    {
        Description = "Ablation results JSON: an array of objects or an object of objects (one row per " +
        "variant)."
    };
    readonly Option<string> title = new Option<string>("--title")
    { Description = "Report title.", DefaultValueFactory = _ => D.Title };
    readonly Option<int> grid = new Option<int>("--grid")
    { Description = "Maximum number of image pairs in the grid.", DefaultValueFactory = _ => D.MaxGridImages };
    readonly Option<string?> data = new Option<string?>("--data")
    {
        Description = "Data root of the test images (default: found from --truth's path). A synthetic root (it " +
        "has ground_truth/, written by synth) never shows published NSD figures; real NSD shows them with their " +
        "protocol."
    };
    readonly Option<string> label = new Option<string>("--label")
    {
        Description = "Name of the --recons/--metrics/--retrieval row.",
        DefaultValueFactory = _ => D.MainLabel
    };
    readonly Option<string?> upper = new Option<string?>("--upper-bound")
    {
        Description = "Images rendered from the true CLIP features (RECON/true_features/ of reconstruct " +
        "--truth-features): a row before the main one."
    };
    readonly Option<string?> upperMetrics = new Option<string?>("--upper-bound-metrics")
    { Description = "METRICS.json of the --upper-bound images." };
    readonly Option<string[]> baseline = new Option<string[]>("--baseline")
    {
        Description = "NAME=RECON: a baseline's reconstructions as a row after the main one (repeatable), e.g. " +
        "ridge=RIDGE_RECON.",
        AllowMultipleArgumentsPerToken = false
    };
    readonly Option<string[]> baselineMetrics = new Option<string[]>("--baseline-metrics")
    { Description = "NAME=METRICS.json of a baseline (repeatable)." };
    readonly Option<string[]> baselineRetrieval = new Option<string[]>("--baseline-retrieval")
    { Description = "NAME=retrieval JSON of a baseline (repeatable)." };

    protected override Option[] Options =>
        [output, run, metrics, retrieval, recons, truth, layers, prms, ablations, title, grid, data, label, upper,
            upperMetrics, baseline, baselineMetrics, baselineRetrieval];

    protected override JsonSerializerOptions JsonOptions { get; } = new();

    public override Request Bind(ParseResult parse, CancellationToken cancel)
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
            DataRoot = parse.GetValue(data),
            MainLabel = parse.GetValue(label)!,
            UpperBound = parse.GetValue(upper) != null || parse.GetValue(upperMetrics) != null
                ? new ReportRow("from true features", parse.GetValue(upper), parse.GetValue(upperMetrics)) : null,
            Baselines = Baselines(parse.GetValue(baseline) ?? [], parse.GetValue(baselineMetrics) ?? [],
                parse.GetValue(baselineRetrieval) ?? []),
        };
        return new Request(inputs, parse.GetValue(output)!);
    }

    /// <summary>Writes the report; the result is its path.</summary>
    public override string Execute(Request r) => ReportBuilder.Write(r.Inputs, r.Out);

    public override object Report(Request request, string path) =>
        new { report = System.IO.Path.GetFullPath(path), bytes = new FileInfo(path).Length };

    /// <summary>Joins --baseline, --baseline-metrics and --baseline-retrieval by NAME, in first-mention
    /// order.</summary>
    static List<ReportRow> Baselines(string[] recons, string[] metrics, string[] retrieval)
    {
        var names = new List<string>();
        Dictionary<string, string> Parse(string option, string[] values)
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var v in values)
            {
                int eq = v.IndexOf('=');
                if (eq < 1 || eq == v.Length - 1)
                    throw new UserInputException($"{option} {v}: expected NAME=PATH, e.g. ridge=out/recon-ridge");
                string name = v[..eq];
                if (!d.TryAdd(name, v[(eq + 1)..])) throw new UserInputException($"{option}: '{name}' given twice");
                if (!names.Contains(name)) names.Add(name);
            }
            return d;
        }
        var r = Parse("--baseline", recons);
        var m = Parse("--baseline-metrics", metrics);
        var q = Parse("--baseline-retrieval", retrieval);
        return names.Select(n =>
            new ReportRow(n, r.GetValueOrDefault(n), m.GetValueOrDefault(n), q.GetValueOrDefault(n)))
            .ToList();
    }
}
