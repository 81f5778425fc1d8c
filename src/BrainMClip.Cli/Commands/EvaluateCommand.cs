using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evaluation;

namespace BrainMClip.Cli.Commands;

/// <summary>`evaluate`: the NSD reconstruction metrics of docs/evaluation.md → METRICS.json, with a table beside
/// MindEye1/2.</summary>
public sealed class EvaluateCommand : ICliCommand
{
    public string[] Path => ["evaluate"];
    public string Description =>
        "Score reconstructions against ground truth with the NSD protocol metrics (PixCorr, SSIM, legacy SSIM, " +
        "2-way AlexNet(2)/(5), InceptionV3, CLIP; EfficientNet-B1 and SwAV distances). Writes METRICS.json; prints a " +
        "table to stderr (beside the published MindEye1/MindEye2 subject-1 figures when --truth is real NSD data, " +
        "not synthetic) and the means as JSON to stdout.";

    public void Configure(Command command)
    {
        var recons = new Option<string[]>("--recons")
        {
            Description = "Reconstructions: a folder of numbered images (rec_007.png, 7.png, ...) or an .npy array " +
            "(N,H,W,3) uint8. Repeat --recons/--out to score several sets of the same ground truth in one pass (its " +
            "network features are computed once).",
            Required = true
        };
        var truth = new Option<string>("--truth")
        {
            Description = "Ground truth: a folder of numbered images (gt_007.png, ...) or an .npy array (N,H,W,3), " +
            "e.g. nsd_test_stim_sub1.npy; paired by number/row.",
            Required = true
        };
        var output = new Option<string[]>("--out")
        {
            Description = "Where to write METRICS.json (docs/file-formats.md); one per --recons, in the same order.",
            Required = true
        };
        var nets = new Option<string?>("--nets")
        {
            Description = "Folder with the metric networks' torchvision-named weights: alexnet.safetensors, " +
            "inception_v3.safetensors, efficientnet_b1.safetensors, swav_resnet50.safetensors and clip/ (see " +
            "docs/metrics-weights.md). Metrics whose weights are missing are reported as skipped."
        };
        var metrics = new Option<string>("--metrics")
        {
            Description = $"'all' or a comma list of: {string.Join(", ", Evaluator.AllMetrics)}.",
            DefaultValueFactory = _ => "all"
        };
        var batch = new Option<int>("--batch")
        { Description = "Images per network batch.", DefaultValueFactory = _ => 8 };
        foreach (var o in new Option[] { recons, truth, output, nets, metrics, batch }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string[] reconPaths = parse.GetValue(recons)!, outPaths = parse.GetValue(output)!;
            if (reconPaths.Length != outPaths.Length)
                throw new UserInputException($"{reconPaths.Length} --recons but {outPaths.Length} --out: give one " +
                                             "METRICS.json path per reconstruction set");
            string truthPath = parse.GetValue(truth)!;
            var sets = reconPaths.Select(r => ImagePairs.Open(r, truthPath)).ToList();
            string? netsDir = parse.GetValue(nets);
            if (netsDir != null
                && !Directory.Exists(netsDir)) throw new UserInputException($"--nets {netsDir}: folder not found");
            int b = parse.GetValue(batch);
            if (b < 1) throw new UserInputException("--batch must be at least 1");
            var options = new EvaluationOptions
            {
                Metrics = Evaluator.ParseMetricList(parse.GetValue(metrics)!),
                NetsDir = netsDir,
                ClipFactory = ClipEmbedders.Factory,
                BatchSize = b,
            };
            var reports = Evaluator.RunMany(sets, options, Console.Error);
            var source = DataProvenance.FromPath(truthPath);
            var summaries = new List<object>();
            for (int k = 0; k < reports.Count; k++)
            {
                var report = reports[k];
                report.Save(outPaths[k]);
                if (reports.Count > 1) Console.Error.WriteLine($"{reconPaths[k]}:");
                Console.Error.Write(report.FormatTable(published: source.Kind == DataKind.RealNsd));
                Console.Error.WriteLine($"wrote {outPaths[k]}");
                summaries.Add(new
                {
                    n = report.N,
                    metrics = report.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Mean),
                    skipped = report.Skipped,
                    @out = outPaths[k],
                });
            }
            // One set: the summary object as before; several: {"runs": [...]} in --recons order.
            object json = summaries.Count == 1 ? summaries[0] : new { runs = summaries };
            Console.WriteLine(JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
