using System.CommandLine;
using BrainMClip.Evaluation;
using BrainMClip.IO;

namespace BrainMClip.Cli.Commands;

/// <summary>`evaluate`: the NSD reconstruction metrics of docs/evaluation.md → METRICS.json, with a table beside
/// MindEye1/2.</summary>
public sealed class EvaluateCommand : StageCommand<EvaluateCommand.Request, IReadOnlyList<MetricsReport>>
{
    /// <summary>Reconstruction sets of one ground truth, each with its METRICS.json path.</summary>
    public sealed record Request(IReadOnlyList<ImagePairs> Sets, string Truth, string[] Outs,
        EvaluationOptions Options);

    static readonly EvaluationOptions D = Defaults.Of<EvaluationOptions>();

    public override string[] Path => ["evaluate"];
    public override string Description =>
        "Score reconstructions against ground truth with the NSD protocol metrics (PixCorr, SSIM, legacy SSIM, " +
        "2-way AlexNet(2)/(5), InceptionV3, CLIP; EfficientNet-B1 and SwAV distances). Writes METRICS.json; prints a " +
        "table to stderr (beside the published MindEye1/MindEye2 subject-1 figures when --truth is real NSD data, " +
        "not synthetic) and the means as JSON to stdout.";

    readonly Option<string[]> recons = new Option<string[]>("--recons")
    {
        Description = "Reconstructions: a folder of numbered images (rec_007.png, 7.png, ...) or an .npy array " +
        "(N,H,W,3) uint8. Repeat --recons/--out to score several sets of the same ground truth in one pass (its " +
        "network features are computed once). Required unless --truth-cache is given alone.",
    };
    readonly Option<string> truth = new Option<string>("--truth")
    {
        Description = "Ground truth: a folder of numbered images (gt_007.png, ...) or an .npy array (N,H,W,3), " +
        "e.g. nsd_test_stim_sub1.npy; paired by number/row.",
        Required = true
    };
    readonly Option<string[]> output = new Option<string[]>("--out")
    {
        Description = "Where to write METRICS.json (docs/file-formats.md); one per --recons, in the same order.",
    };
    readonly Option<string?> nets = new Option<string?>("--nets")
    {
        Description = "Folder with the metric networks' torchvision-named weights: alexnet.safetensors, " +
        "inception_v3.safetensors, efficientnet_b1.safetensors, swav_resnet50.safetensors and clip/ (see " +
        "docs/metrics-weights.md). Metrics whose weights are missing are reported as skipped."
    };
    readonly Option<string> metrics = new Option<string>("--metrics")
    {
        Description = $"'all' or a comma list of: {string.Join(", ", Evaluator.AllMetrics)}.",
        DefaultValueFactory = _ => "all"
    };
    readonly Option<int> batch = new Option<int>("--batch")
    { Description = "Images per network batch.", DefaultValueFactory = _ => D.BatchSize };

    readonly Option<string?> truthCache = new Option<string?>("--truth-cache")
    {
        Description = "A .safetensors file for the ground truth's network features: read when it was made from the " +
        "same ground truth and network files (and holds the images and metrics asked for), otherwise computed and " +
        "written. Given without --recons, only computes it (e.g. on an idle core while reconstructions are still " +
        "being made; the demo does this).",
    };

    readonly Option<int?> threads = SharedOptions.Threads();

    protected override Option[] Options => [recons, truth, output, nets, metrics, batch, truthCache, threads];

    public override Request Bind(ParseResult parse, CancellationToken cancel)
    {
        SharedOptions.ApplyThreads(parse.GetValue(threads));
        string[] reconPaths = parse.GetValue(recons) ?? [], outPaths = parse.GetValue(output) ?? [];
        string? cache = parse.GetValue(truthCache);
        if (reconPaths.Length == 0 && cache is null)
            throw new UserInputException("evaluate: give --recons DIR --out METRICS.json (repeatable), or " +
                                         "--truth-cache FILE alone to compute only the ground truth's network " +
                                         "features");
        if (reconPaths.Length != outPaths.Length)
            throw new UserInputException($"{reconPaths.Length} --recons but {outPaths.Length} --out: give one " +
                                         "METRICS.json path per reconstruction set");
        string truthPath = parse.GetValue(truth)!;
        var sets = reconPaths.Select(r => ImagePairs.Open(r, truthPath)).ToList();
        if (cache is not null) AtomicFile.RequireWritable(cache, "--truth-cache");
        string? netsDir = parse.GetValue(nets);
        if (netsDir != null
            && !Directory.Exists(netsDir)) throw new UserInputException($"--nets {netsDir}: folder not found");
        int b = parse.GetValue(batch);
        if (b < 1) throw new UserInputException("--batch must be at least 1");
        return new Request(sets, truthPath, outPaths, new EvaluationOptions
        {
            Metrics = Evaluator.ParseMetricList(parse.GetValue(metrics)!),
            NetsDir = netsDir,
            ClipFactory = ClipEmbedders.Factory,
            BatchSize = b,
            TruthCache = cache,
        });
    }

    public override IReadOnlyList<MetricsReport> Execute(Request r)
    {
        if (r.Sets.Count > 0) return Evaluator.ScoreToFiles(r.Sets, r.Truth, r.Outs, r.Options, Console.Error);
        Evaluator.CacheTruth(ImageSet.Open(r.Truth), r.Options, Console.Error);
        return [];
    }

    /// <summary>One set: its summary; several: {"runs": [...]} in --recons order.</summary>
    public override object Report(Request request, IReadOnlyList<MetricsReport> reports)
    {
        if (reports.Count == 0) return new { truth_cache = request.Options.TruthCache };
        var summaries = reports.Select((report, k) => (object)new
        {
            n = report.N,
            metrics = report.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Mean),
            skipped = report.Skipped,
            @out = request.Outs[k],
        }).ToList();
        return summaries.Count == 1 ? summaries[0] : new { runs = summaries };
    }
}
