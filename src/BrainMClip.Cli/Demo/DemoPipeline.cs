using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Cli.Commands;
using BrainMClip.Data;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Simulation;

namespace BrainMClip.Cli.Demo;

/// <summary>Sizes of the embedded demo; the defaults finish in minutes on 2 cores.</summary>
public sealed record DemoOptions
{
    public required string OutDir { get; init; }
    /// <summary>4,000: the network's learning curve crosses ridge's between 2,000 and 4,000 samples on the demo's
    /// world (docs/evidence.md § 6: at 2,000 ridge's reconstructions are better, at 4,000 tiny-recon's are; retrieval
    /// is the network's at both); the network's training still runs in the shadow of the generator's.</summary>
    public int Train { get; init; } = DefaultTrain;
    public const int DefaultTrain = 4000;
    public int Test { get; init; } = 100;
    public int ImageSize { get; init; } = 64;
    public int Seed { get; init; } = 0;
    /// <summary>Training epochs; null = the preset's own (tiny: tuned for this data size).</summary>
    public int? Epochs { get; init; }
    /// <summary>The network's configuration (train --config): a preset name or a .json file. tiny-recon: the
    /// reconstructions are drawn from the detail stream, which it trains for that (docs/evidence.md § 6).</summary>
    public string Config { get; init; } = DefaultConfig;
    public const string DefaultConfig = "tiny-recon";
    /// <summary>2,000 steps of batch 8 (docs/generation.md: upper-bound CLIP 2-way 95.3 % against 94.0 % at 1,500
    /// on the demo's images); affordable since the ground truth's metric features are made while it trains.</summary>
    public int GeneratorSteps { get; init; } = DefaultGeneratorSteps;
    public const int DefaultGeneratorSteps = 2000;
    public int DiffusionSteps { get; init; } = 12;
    /// <summary>The simulated world `synth` writes: "linear" or "hierarchical" (docs/simulation.md).</summary>
    public string World { get; init; } = "hierarchical";
    /// <summary>The CLIP whose features are the targets: "shipped" (the clip-train encoder in assets/encoders),
    /// "random" (`clip-init`, seeded random weights) or "trained" (`clip-train --preset tiny` with
    /// <see cref="ClipImages"/> and <see cref="ClipEpochs"/>).</summary>
    public string Encoder { get; init; } = "shipped";
    /// <summary>clip-train's scenes when <see cref="Encoder"/> is "trained".</summary>
    public int ClipImages { get; init; } = 2500;
    /// <summary>clip-train's epochs when <see cref="Encoder"/> is "trained".</summary>
    public int ClipEpochs { get; init; } = 8;

    public static readonly string[] Worlds = ["linear", "hierarchical"], Encoders = ["shipped", "random", "trained"];

    /// <summary>The report's title: which world and which encoder the run used.</summary>
    public string Title => $"BrainMClip demo (synthetic {World}-world subject, " +
        Encoder switch
        {
            "trained" => "CLIP trained by clip-train in this run",
            "shipped" => "CLIP trained by clip-train, shipped",
            _ => "random-weight CLIP",
        } + ")";
}

/// <summary>
/// The embedded end-to-end run. Every stage echoes the CLI command a user would type, binds that command line with
/// the command's own binder and calls the same library function the command calls (<see cref="StageCommand{TRequest,
/// TResult}"/>), so the demo doubles as a worked example of the command line; the JSON a stage would print is kept in
/// the output folder where the report needs it.
/// </summary>
public sealed class DemoPipeline(DemoOptions o, CancellationToken cancel = default)
{
    readonly List<(string Stage, double Seconds)> _timings = [];
    readonly TextWriter _log = Console.Error;

    static readonly string[] OwnedFolders = ["data", "clip", "features", "run", "ridge", "generator", "recon",
        "recon-ridge", "eval", "layers", "ablations", "nets"];

    string P(params string[] parts) => Path.Combine([o.OutDir, .. parts]);

    public int Run()
    {
        if (!DemoOptions.Worlds.Contains(o.World) || !DemoOptions.Encoders.Contains(o.Encoder))
            throw new UserInputException($"demo: world '{o.World}' / encoder '{o.Encoder}': expected world " +
                $"{string.Join(" or ", DemoOptions.Worlds)}, encoder {string.Join(" or ", DemoOptions.Encoders)}");
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(o.OutDir);
        // --force: start clean in the folders the demo owns (never anything else in --out).
        foreach (var d in OwnedFolders)
            if (Directory.Exists(P(d))) Directory.Delete(P(d), recursive: true);
        _log.WriteLine($"BrainMClip demo → {Path.GetFullPath(o.OutDir)}");

        // The hierarchical world with the shipped trained encoder by default (docs/simulation.md); the linear world and
        // a random-weight CLIP stay available (--world linear --encoder random).
        Stage(new SynthCommand(), "1. Synthetic NSD-like subject (real on-disk formats: npy + NIfTI ROI masks)", null,
            SynthCommandLine());
        var info = Stage(new DataInfoCommand(), "2. Check the data: counts per split, voxel streams, ROIs",
            P("data-info.json"), "data", "info", "--data", P("data"));
        string stim(string split) => P("data", "processed_data", "subj01", $"nsd_{split}_stim_sub1.npy");

        TargetEncoder();
        Stage(new FeaturesCommand(),
            "4a. CLIP features of the training images (CLIP-Detail = mean of middle layers, CLIP-Semantic = VD tokens)",
            null,
            "features", "--clip", P("clip"), "--input", stim("train"), "--out", P("features", "train.safetensors"),
                "--batch", "32");
        Stage(new FeaturesCommand(),
            "4b. CLIP features of the test images, with every hidden layer for the layer analysis", null,
            "features", "--clip", P("clip"), "--input", stim("test"), "--out", P("features", "test.safetensors"),
                "--batch", "32",
            "--hidden-states");

        string testStim = stim("test");
        int nD = info.Split.Detail.Length, nS = info.Split.Semantic.Length;
        // Stage 8 needs only the training images and features: it runs in a child process beside stages 5-7, each
        // with one torch thread. Neither job gains much from a second thread (small batches), so the two cores
        // finish both in about the time of the longer one.
        int threads = TorchSharp.torch.get_num_threads();
        using var generator = StartGenerator(stim("train"));
        var parameters = Stage(new ParamsCommand(),
            "5. Parameter counts of this configuration beside MindBridge / MindEye1 at the same voxel and target sizes",
            P("params.json"),
            "params", "--config", o.Config, "--voxels-detail", $"{nD}", "--voxels-semantic", $"{nS}", "--json");

        string[] epochArgs = o.Epochs is { } e ? ["--epochs", $"{e}"] : [];
        Stage(new TrainCommand(),
            $"6a. Train BrainMCLIP ({o.Config}): two streams, multi-granularity loss, cross-reconstruction", null,
            ["train", "--data", P("data"), "--features", P("features", "train.safetensors"), "--config", o.Config,
             "--out", P("run"), "--seed", $"{o.Seed}", "--threads", "1", .. epochArgs]);
        Stage(new PredictCommand(), "6b. Predict CLIP tokens for the test fMRI", null,
            "predict", "--run", P("run"), "--data", P("data"), "--split", "test", "--out",
                P("run", "pred_test.safetensors"));
        var retrieval = Stage(new RetrieveCommand(),
            "6c. Retrieval: find each test image from its brain prediction (and back)", P("retrieval.json"),
            "retrieve", "--pred", P("run", "pred_test.safetensors"), "--features", P("features", "test.safetensors"));

        Stage(new TrainCommand(), "7a. Ridge-regression baseline (Brain-Diffuser style), trained the same way", null,
            "train", "--data", P("data"), "--features", P("features", "train.safetensors"), "--config", "ridge",
            "--out", P("ridge"), "--seed", $"{o.Seed}", "--threads", "1");
        Stage(new PredictCommand(), "7b. Ridge predictions", null,
            "predict", "--run", P("ridge"), "--data", P("data"), "--split", "test", "--out",
                P("ridge", "pred_test.safetensors"));
        var ridgeRetrieval = Stage(new RetrieveCommand(), "7c. Ridge retrieval", P("retrieval-ridge.json"),
            "retrieve", "--pred", P("ridge", "pred_test.safetensors"), "--features", P("features", "test.safetensors"));

        // The core the network and ridge used is free while the generator still trains: the metric networks and the
        // ground truth's features for them are made there (one thread), so stage 10 only scores the three rows.
        MetricNetworksAndTruthFeatures(testStim);
        FinishGenerator(generator);
        TorchSharp.torch.set_num_threads(threads);
        GenerateEvaluateReport(testStim);
        WriteSummary(total, info, parameters.Total, retrieval, ridgeRetrieval);
        return 0;
    }

    /// <summary>Stage 1's command line: the subject of the chosen world.</summary>
    public string[] SynthCommandLine() =>
    [
        "synth", "--world", o.World, "--out", P("data"), "--train", $"{o.Train}", "--test", $"{o.Test}",
        "--image-size", $"{o.ImageSize}", "--seed", $"{o.Seed}",
        .. o.World == "hierarchical"
            ? new[] { "--prf-colour", SyntheticNsd.DemoPrfColour.ToString(CultureInfo.InvariantCulture) }
            : [],
    ];

    /// <summary>Stage 3's command line: clip-train (encoder "trained") or clip-init (encoder "random").</summary>
    public string[] EncoderCommandLine() => o.Encoder == "trained"
        ? ["clip-train", "--out", P("clip"), "--preset", "tiny", "--images", $"{o.ClipImages}",
            "--epochs", $"{o.ClipEpochs}", "--seed", $"{o.Seed}"]
        : ["clip-init", "--out", P("clip"), "--preset", "tiny", "--seed", $"{o.Seed}"];

    /// <summary>Stage 3: the CLIP whose features are the targets, random (clip-init) or trained (clip-train).</summary>
    void TargetEncoder()
    {
        if (o.Encoder == "shipped")
        {
            _log.WriteLine();
            _log.WriteLine("== 3. The target encoder shipped with the program (a CLIP vision model in Hugging Face " +
                "layout, trained on scenes of the hierarchical world, disjoint from the subject's stimuli)");
            _log.WriteLine($"   made by: brainmclip {string.Join(' ', ShippedEncoder.TrainingCommandLine)} " +
                "(about 12 min on 2 cores; its training.json has the held-out probe)");
            var clock = Stopwatch.StartNew();
            ShippedEncoder.CopyTo(P("clip"));
            _timings.Add(("3 shipped-encoder", clock.Elapsed.TotalSeconds));
        }
        else if (o.Encoder == "trained")
            Stage(new ClipTrainCommand(),
                "3. Train the target encoder: a CLIP vision model in Hugging Face layout, trained on scenes of the " +
                "hierarchical world (disjoint from the subject's stimuli)", null, EncoderCommandLine());
        else
            Stage(new ClipInitCommand(),
                "3. A CLIP vision model in Hugging Face layout (random weights: nothing to download)", null,
                EncoderCommandLine());
    }

    const string GeneratorTitle =
        "8. Train the embedded pixel-space image generator on the training images and their CLIP-Semantic and " +
        "CLIP-Detail tokens (the generator fuses the two streams; the detail tokens carry the layout), in a " +
        "background process beside stages 5-7";

    /// <summary>Stage 8's command line (docs/generation.md: pixel-shuffle context map, batch 8, attention at 8×8).
    /// </summary>
    public string[] GeneratorCommandLine(string trainStim) =>
    [
        "generator", "train", "--images", trainStim, "--features", P("features", "train.safetensors"),
        "--out", P("generator"), "--steps", $"{o.GeneratorSteps}", "--batch", "8", "--lr", "3e-3",
        "--attention-resolution", "8", "--seed", $"{o.Seed}", "--prediction", "sample",
        "--context-map", "--context-map-shuffle", "4", "--context", "semantic+detail", "--threads", "1",
        "--threads-from", $"{GeneratorWidenStep}:2",
    ];

    /// <summary>The step from which the generator takes both cores: about where the brain stages beside it end
    /// (measured on the demo: step ~1,480 of 2,000 when stage 10b finished; the child's one thread then leaves a core
    /// idle). Fixed by step, so the generator computes the same on every run.</summary>
    int GeneratorWidenStep => o.GeneratorSteps * 3 / 4;

    /// <summary>Starts stage 8 in a child process; <see cref="FinishGenerator"/> collects it.</summary>
    BackgroundStage StartGenerator(string trainStim)
    {
        var args = GeneratorCommandLine(trainStim);
        _log.WriteLine();
        _log.WriteLine($"== {GeneratorTitle}");
        _log.WriteLine($"   $ brainmclip {string.Join(' ', args.Select(Quote))}");
        _log.WriteLine($"   (started; its progress goes to {P("generator-train.log")})");
        // OpenMP's default wait policy (spin briefly, then sleep), not the wrapper's PASSIVE: with PASSIVE the widened
        // run's second thread is put to sleep after every small operator and two threads stepped slower than one
        // (190 vs 173 ms per step; default policy 120 ms, bench/generator-threads). One thread never spins.
        return BackgroundStage.Start(GeneratorTitle, P("generator-train.log"), args, ["OMP_WAIT_POLICY"]);
    }

    void FinishGenerator(BackgroundStage generator)
    {
        _log.WriteLine();
        _log.WriteLine($"== {GeneratorTitle}: waiting for it to finish");
        var (stdout, seconds) = generator.Wait(line => _log.WriteLine($"   {line}"));
        _timings.Add(("8 generator train", seconds));
        string line = string.Join(' ', stdout.Split('\n',
            StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        _log.WriteLine($"   {(line.Length > 400 ? line[..400] + " ..." : line)}");
        _log.WriteLine($"   ({seconds:0.0}s since it started)");
    }

    string TruthCache => P("eval", "truth-features.safetensors");

    /// <summary>Stages 10a-b, run while the generator trains: random-weight metric networks and the ground truth's
    /// features for them.</summary>
    void MetricNetworksAndTruthFeatures(string testStim)
    {
        Stage(new NetsInitCommand(),
            "10a. Metric networks with RANDOM weights (nothing to download; labelled random in METRICS.json and the " +
            "report)", null,
            "nets-init", "--out", P("nets"), "--seed", $"{o.Seed}", "--clip", P("clip"));
        Stage(new EvaluateCommand(),
            "10b. The ground truth's features for every metric network, on the core the training used, while the " +
            "generator still trains", null,
            "evaluate", "--truth", testStim, "--nets", P("nets"), "--truth-cache", TruthCache);
    }

    /// <summary>A stage run as a child process in one of the two lanes after the generator (see
    /// <see cref="RunLanes"/>).</summary>
    /// <param name="Wide">Run with OpenMP's default wait policy instead of the wrapper's PASSIVE (for a job given
    /// two threads: under PASSIVE a second thread gains nothing on small operators).</param>
    sealed record LaneJob(string Key, string Title, string Log, string[] Args, string[] After, bool Wide = false);

    /// <summary>Stages 9-12: reconstructions, evaluation, layer analysis, report.</summary>
    void GenerateEvaluateReport(string testStim)
    {
        string upperRecon = P("recon", UpperBound.FolderName);
        string[] Evaluate(string recons, string metrics, int threads = 1) =>
        [
            "evaluate", "--truth", testStim, "--nets", P("nets"), "--truth-cache", TruthCache, "--recons", recons,
            "--out", P("eval", metrics), "--threads", $"{threads}",
        ];
        // Single-thread jobs in two lanes: one process with two threads over all three sets used little more than
        // one core on these small batches, two processes with one thread each use two. The last job runs mostly
        // alone, so it gets both cores (and OpenMP's default wait policy, under which two threads pay). Each set's
        // ground-truth network features come from stage 10b's file.
        RunLanes(
        [
            new("9a", "9a. Reconstruct the test images from the fused brain predictions (re-standardised to the " +
                "training features, as Brain-Diffuser does), and from the true features (upper bound)",
                P("recon.log"),
                ["reconstruct", "--pred", P("run", "pred_test.safetensors"), "--generator", P("generator"), "--out",
                    P("recon"), "--steps", $"{o.DiffusionSteps}", "--guidance", "1", "--seed", $"{o.Seed}",
                    "--restandardize", P("features", "train.safetensors"),
                    "--truth-features", P("features", "test.safetensors"), "--threads", "1"], []),
            new("9b", "9b. Reconstruct from the ridge predictions (same generator, seeds and sampler)",
                P("recon-ridge.log"),
                ["reconstruct", "--pred", P("ridge", "pred_test.safetensors"), "--generator", P("generator"),
                    "--out", P("recon-ridge"), "--steps", $"{o.DiffusionSteps}", "--guidance", "1", "--seed",
                    $"{o.Seed}", "--restandardize", P("features", "train.safetensors"), "--threads", "1"], []),
            new("10c", "10c. Evaluate all eight metrics: BrainMCLIP", P("eval", "evaluate.log"),
                Evaluate(P("recon"), "METRICS.json"), ["9a"]),
            new("10d", "10d. Evaluate all eight metrics: ridge", P("eval", "evaluate-ridge.log"),
                Evaluate(P("recon-ridge"), "METRICS-ridge.json"), ["9b"]),
            new("10e", "10e. Evaluate all eight metrics: from the true features (upper bound)",
                P("eval", "evaluate-true-features.log"), Evaluate(upperRecon, "METRICS-true-features.json", threads: 2),
                ["9a"], Wide: true),
        ], lanes: 2);
        Stage(new AnalyzeLayersCommand(),
            "11. Layer analysis: RSA of every CLIP layer against ROI groups, CKA between layers", null,
            "analyze-layers", "--features", P("features", "test.safetensors"), "--data", P("data"), "--split", "test",
            "--out", P("layers"));
        Stage(new ReportCommand(), "12. The HTML report", null,
            "report", "--out", P("report.html"), "--run", P("run"), "--metrics", P("eval", "METRICS.json"),
            "--retrieval", P("retrieval.json"), "--recons", P("recon"), "--truth", testStim, "--layers", P("layers"),
            "--params", P("params.json"), "--title", o.Title,
            "--data", P("data"), "--upper-bound", upperRecon, "--upper-bound-metrics",
                P("eval", "METRICS-true-features.json"),
            "--baseline", $"ridge={P("recon-ridge")}", "--baseline-metrics", $"ridge={P("eval", "METRICS-ridge.json")}",
            "--baseline-retrieval", $"ridge={P("retrieval-ridge.json")}");
    }

    void WriteSummary(Stopwatch total, NsdSubject info, long parameters, JsonObject retrieval,
        JsonObject ridgeRetrieval)
    {
        var summary = new JsonObject
        {
            ["out"] = Path.GetFullPath(o.OutDir),
            ["report"] = Path.GetFullPath(P("report.html")),
            ["world"] = o.World,
            ["encoder"] = o.Encoder,
            ["train_samples"] = info.TrainSamples,
            ["test_samples"] = info.TestSamples,
            ["voxels_detail"] = info.Split.Detail.Length,
            ["voxels_semantic"] = info.Split.Semantic.Length,
            ["parameters"] = parameters,
            ["retrieval"] = retrieval.DeepClone(),
            ["retrieval_ridge"] = ridgeRetrieval.DeepClone(),
            ["metrics"] = MetricMeans(P("eval", "METRICS.json")),
            ["metrics_true_features"] = MetricMeans(P("eval", "METRICS-true-features.json")),
            ["metrics_ridge"] = MetricMeans(P("eval", "METRICS-ridge.json")),
            ["metrics_network_minus_ridge"] = PairedDifferences(P("eval", "METRICS.json"),
                P("eval", "METRICS-ridge.json")),
            ["timings_s"] = new JsonObject(
                _timings.Select(t => KeyValuePair.Create(t.Stage, (JsonNode?)Math.Round(t.Seconds, 1)))),
            ["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 1),
        };
        IO.AtomicFile.WriteAllText(P("demo-summary.json"),
            summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        _log.WriteLine();
        _log.WriteLine($"Done in {total.Elapsed.TotalSeconds:0}s. Summary: {P("demo-summary.json")}");
        Console.WriteLine(summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Echoes the command line, binds it with <paramref name="command"/>'s own binder and runs the
    /// command's library call; the JSON the command would print is written to <paramref name="jsonOut"/> when
    /// given. A failing stage ends the demo with the exit code the command would have had.</summary>
    TResult Stage<TRequest, TResult>(StageCommand<TRequest, TResult> command, string title, string? jsonOut,
        params string[] args)
    {
        _log.WriteLine();
        _log.WriteLine($"== {title}");
        _log.WriteLine($"   $ brainmclip {string.Join(' ', args.Select(Quote))}");
        var clock = Stopwatch.StartNew();
        TRequest request;
        TResult result;
        System.CommandLine.ParseResult? parse = null;
        try
        {
            parse = Program.Parse(command, args);
            if (parse.Errors.Count > 0)
            {
                foreach (var err in parse.Errors) _log.WriteLine($"error: {err.Message}");
                throw new DemoStageException(title, ExitCodes.Usage);
            }
            request = command.Bind(parse, cancel);
            result = command.Execute(request);
        }
        catch (Exception ex) when (ex is not DemoStageException)
        {
            throw new DemoStageException(title, ExitCodes.Report(ex, parse?.CommandResult.Command));
        }
        _timings.Add(
            ($"{title[..title.IndexOf('.')]} {args[0]}{(args[0] is "data" or "generator" ? " " + args[1] : "")}",
            clock.Elapsed.TotalSeconds));
        if (jsonOut != null)
        {
            IO.AtomicFile.WriteAllText(jsonOut, command.Json(request, result) + Environment.NewLine);
            _log.WriteLine($"   → {jsonOut}");
        }
        // What the stage reported (e.g. samples, tokens and widths extracted), on one line.
        string line = command.Json(request, result, indented: false);
        _log.WriteLine($"   {(line.Length > 400 ? line[..400] + " ..." : line)}");
        _log.WriteLine($"   ({clock.Elapsed.TotalSeconds:0.0}s)");
        return result;
    }

    /// <summary>Runs <paramref name="jobs"/> as child processes, at most <paramref name="lanes"/> at a time; a job
    /// starts when the jobs it waits for are done, the first ready one in list order first. Each job's command line
    /// is echoed when it starts, its progress goes to its log, its JSON line and time are echoed when it ends.
    /// </summary>
    void RunLanes(IReadOnlyList<LaneJob> jobs, int lanes)
    {
        var pending = jobs.ToList();
        var running = new List<(LaneJob Job, BackgroundStage Stage)>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            while (pending.Count > 0 || running.Count > 0)
            {
                while (running.Count < lanes && pending.FirstOrDefault(j => j.After.All(done.Contains)) is { } next)
                {
                    pending.Remove(next);
                    _log.WriteLine();
                    _log.WriteLine($"== {next.Title} (beside the other lane; progress in {next.Log})");
                    _log.WriteLine($"   $ brainmclip {string.Join(' ', next.Args.Select(Quote))}");
                    running.Add((next, BackgroundStage.Start(next.Title, next.Log, next.Args,
                        next.Wide ? ["OMP_WAIT_POLICY"] : null)));
                }
                if (running.Count == 0)
                    throw new InvalidOperationException("demo lanes: a job waits for a job that never runs");
                var finished = running.FirstOrDefault(r => r.Stage.HasExited);
                if (finished.Stage is null)
                {
                    cancel.ThrowIfCancellationRequested();
                    Thread.Sleep(100);
                    continue;
                }
                running.Remove(finished);
                using (finished.Stage)
                {
                    var (stdout, seconds) = finished.Stage.Wait();
                    _timings.Add(($"{finished.Job.Key} {finished.Job.Args[0]}", seconds));
                    string line = string.Join(' ', stdout.Split('\n',
                        StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
                    _log.WriteLine();
                    _log.WriteLine($"== {finished.Job.Title}: done");
                    _log.WriteLine($"   {(line.Length > 400 ? line[..400] + " ..." : line)}");
                    _log.WriteLine($"   ({seconds:0.0}s)");
                }
                done.Add(finished.Job.Key);
            }
        }
        finally
        {
            foreach (var (_, stage) in running) stage.Dispose();
        }
    }

    static JsonNode? ReadJson(string path)
    {
        try { return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null; }
        catch (JsonException) { return null; }
    }

    static JsonObject? MetricMeans(string metricsJson) => ReadJson(metricsJson)?["metrics"] is JsonObject m
        ? new JsonObject(m.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?["mean"]?.DeepClone())))
        : null;

    /// <summary>
    /// BrainMCLIP − ridge per metric over the test images (paired by image number): mean and 95 % bootstrap CI
    /// (<see cref="Training.StudyStatistics.PairedBootstrap"/>, 2,000 resamples, seed 0), in the metric's units
    /// (2-way identification as a fraction). The README's and docs/evidence.md's demo intervals come from here.
    /// </summary>
    public static JsonObject? PairedDifferences(string networkJson, string ridgeJson)
    {
        if (!File.Exists(networkJson) || !File.Exists(ridgeJson)) return null;
        var a = Evaluation.MetricsReport.Load(networkJson);
        var b = Evaluation.MetricsReport.Load(ridgeJson);
        if (!a.Indices.SequenceEqual(b.Indices)) return null;
        var o = new JsonObject
        {
            ["bootstrap"] = "paired over test images, 2000 resamples, seed 0, percentile 95% (StudyStatistics)",
        };
        foreach (var (metric, r) in a.Metrics)
        {
            if (!b.Metrics.TryGetValue(metric, out var rb) || r.PerImage.Count != rb.PerImage.Count ||
                r.PerImage.Count == 0) continue;
            var d = Training.StudyStatistics.PairedBootstrap(r.PerImage, rb.PerImage, 2000, seed: 0);
            o[metric] = new JsonObject
            {
                ["mean"] = d.Mean,
                ["ci95_low"] = d.Low,
                ["ci95_high"] = d.High,
                ["images"] = d.Samples,
            };
        }
        return o;
    }

    static string Quote(string s) => s.Contains(' ') ? $"'{s}'" : s;
}

public sealed class DemoStageException(string stage, int code)
    : Exception($"demo stage '{stage}' failed with exit code {code}")
{
    public int Code { get; } = code;
}
