using BrainMClip.Evaluation.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>Image embedding network for the CLIP 2-way metric (the project's CLIP ViT; kept behind an interface).</summary>
public interface IImageEmbedder : IDisposable
{
    /// <summary>Side of the square input (224 for CLIP ViT-L/14).</summary>
    int InputSize { get; }

    /// <summary>(N,3,H,W) [0,1] protocol-prepared images → (N,D) projected image embeddings (resize, CLIP normalisation).</summary>
    Tensor Embed(Tensor images01);
}

/// <summary>What `evaluate` computes and where the metric networks come from.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Metric keys to compute (subset of <see cref="Evaluator.AllMetrics"/>).</summary>
    public required IReadOnlySet<string> Metrics { get; init; }
    /// <summary>Folder holding alexnet.safetensors, inception_v3.safetensors, efficientnet_b1.safetensors, swav_resnet50.safetensors, clip/.</summary>
    public string? NetsDir { get; init; }
    /// <summary>Builds the CLIP embedder from a folder (NETS/clip); null when no CLIP implementation is available.</summary>
    public Func<string, IImageEmbedder>? ClipFactory { get; init; }
    public int BatchSize { get; init; } = 8;
}

/// <summary>Computes the reconstruction metrics of docs/evaluation.md over paired images.</summary>
public static class Evaluator
{
    public static readonly string[] AllMetrics = ["pixcorr", "ssim", "ssim_legacy", "alexnet2", "alexnet5", "inception", "clip", "efficientnet", "swav"];

    /// <summary>Weight file (in NETS) per network, and the metrics it serves.</summary>
    public static readonly (string net, string file, string[] metrics)[] NetworkFiles =
    [
        ("alexnet", "alexnet.safetensors", ["alexnet2", "alexnet5"]),
        ("inception_v3", "inception_v3.safetensors", ["inception"]),
        ("efficientnet_b1", "efficientnet_b1.safetensors", ["efficientnet"]),
        ("resnet50", "swav_resnet50.safetensors", ["swav"]),
    ];

    public static IReadOnlySet<string> ParseMetricList(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Trim() == "all") return AllMetrics.ToHashSet();
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!AllMetrics.Contains(raw)) throw new UserInputException($"--metrics: unknown metric '{raw}' (known: all, {string.Join(", ", AllMetrics)})");
            set.Add(raw);
        }
        return set;
    }

    public static MetricsReport Run(ImagePairs pairs, EvaluationOptions options, TextWriter? log = null)
    {
        var idx = pairs.Indices;
        int n = idx.Count;
        var report = new MetricsReport { N = n, Indices = idx };
        var want = options.Metrics;

        // Which networks are available; a missing file makes its metrics "skipped", never zero.
        var nets = new List<(string net, string path, string[] metrics)>();
        foreach (var (net, file, metrics) in NetworkFiles)
        {
            var needed = metrics.Where(want.Contains).ToArray();
            if (needed.Length == 0) continue;
            string? path = options.NetsDir == null ? null : Path.Combine(options.NetsDir, file);
            if (path != null && File.Exists(path)) { nets.Add((net, path, needed)); report.Networks[net] = path; }
            else
            {
                report.Networks[net] = null;
                foreach (var m in needed)
                    report.Skipped[m] = options.NetsDir == null ? $"no --nets folder given (needs {file})" : $"{file} not found in {options.NetsDir}";
            }
        }
        IImageEmbedder? clip = null;
        if (want.Contains("clip"))
        {
            string? clipDir = options.NetsDir == null ? null : Path.Combine(options.NetsDir, "clip");
            if (clipDir == null || !Directory.Exists(clipDir))
                report.Skipped["clip"] = clipDir == null ? "no --nets folder given (needs clip/)" : $"clip/ (a Hugging Face CLIP folder) not found in {options.NetsDir}";
            else if (options.ClipFactory == null) report.Skipped["clip"] = "this build has no CLIP image embedder";
            else { clip = options.ClipFactory(clipDir); report.Networks["clip"] = clipDir; }
        }

        // Label seeded random weights (nets-init) so their scores are never read as perceptual similarity.
        if (options.NetsDir != null)
            foreach (var (net, origin) in RandomMetricNetworks.Describe(options.NetsDir))
                if (report.Networks.GetValueOrDefault(net) != null) report.NetworkWeights[net] = origin;

        var loaded = new List<(string net, string[] metrics, MetricNetwork model)>();
        try
        {
            bool lowLevel = want.Contains("pixcorr") || want.Contains("ssim") || want.Contains("ssim_legacy");
            var pc = new double[n]; var ss = new double[n]; var sl = new double[n];
            foreach (var x in nets)
            {
                var model = MetricNetwork.Create(x.net);
                loaded.Add((x.net, x.metrics, model));
                var rep = model.LoadWeights(x.path);
                log?.WriteLine($"{x.net}: {rep.Loaded} tensors from {x.path}" +
                               (rep.Unexpected.Count > 0 ? $" ({rep.Unexpected.Count} unused, e.g. {rep.Unexpected[0]})" : ""));
            }
            var feats = new Dictionary<string, (FeatureMatrix real, FeatureMatrix pred)>();
            using var bar = new ProgressBar("evaluate", n, "img");
            for (int start = 0; start < n; start += options.BatchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(options.BatchSize, n - start);
                var truth = new List<Tensor>(); var recon = new List<Tensor>();
                for (int k = 0; k < count; k++)
                {
                    truth.Add(ImageTensors.Prepare(pairs.Truth.ReadTensor(idx[start + k])));
                    recon.Add(ImageTensors.Prepare(pairs.Recons.ReadTensor(idx[start + k])));
                }
                if (lowLevel)
                    Parallel.For(0, count, k =>
                    {
                        var s = LowLevelMetrics.Compute(truth[k], recon[k], want.Contains("pixcorr"), want.Contains("ssim"), want.Contains("ssim_legacy"));
                        pc[start + k] = s.PixCorr; ss[start + k] = s.Ssim; sl[start + k] = s.SsimLegacy;
                    });
                // Each image is resized straight to the network's input size (no intermediate size), then batched.
                using (no_grad())
                {
                    foreach (var (net, metrics, model) in loaded)
                    {
                        var ft = model.Extract(model.Preprocess(Batch(truth, model.InputSize)));
                        var fr = model.Extract(model.Preprocess(Batch(recon, model.InputSize)));
                        foreach (var m in metrics)
                            Add(feats, m, n, start, ft[NodeFor(m)], fr[NodeFor(m)]);
                    }
                    if (clip != null) Add(feats, "clip", n, start, clip.Embed(Batch(truth, clip.InputSize)), clip.Embed(Batch(recon, clip.InputSize)));
                }
                bar.Advance(count);
            }

            if (want.Contains("pixcorr")) report.Metrics["pixcorr"] = new MetricResult(pc.Average(), pc);
            if (want.Contains("ssim")) report.Metrics["ssim"] = new MetricResult(ss.Average(), ss);
            if (want.Contains("ssim_legacy")) report.Metrics["ssim_legacy"] = new MetricResult(sl.Average(), sl);
            foreach (var (metric, (real, pred)) in feats)
            {
                if (metric is "efficientnet" or "swav")
                {
                    var (mean, per) = Identification.CorrelationDistance(real, pred);
                    report.Metrics[metric] = new MetricResult(mean, per);
                }
                else
                {
                    var tw = Identification.TwoWay(real, pred);
                    report.Metrics[metric] = new MetricResult(tw.Score, tw.PerImage);
                }
            }
        }
        finally
        {
            clip?.Dispose();
            foreach (var (_, _, model) in loaded) model.Dispose();
        }
        return report;
    }

    static Tensor Batch(List<Tensor> images, int size) => cat(images.Select(t => ImageTensors.Resize(t, size, size)).ToList(), 0);

    static string NodeFor(string metric) => metric switch
    {
        "alexnet2" => "features.4",
        "alexnet5" => "features.11",
        _ => "avgpool",
    };

    /// <summary>Stores a batch of features in the metric's N×D float32 matrices (allocated on the first batch).</summary>
    static void Add(Dictionary<string, (FeatureMatrix, FeatureMatrix)> feats, string metric, int n, int start, Tensor real, Tensor pred)
    {
        if (!feats.TryGetValue(metric, out var m))
        {
            long dims = real.numel() / real.shape[0];
            if (dims * n > Array.MaxLength) throw new InvalidOperationException($"{metric}: {n}×{dims} features exceed one array");
            feats[metric] = m = (new FeatureMatrix(n, (int)dims), new FeatureMatrix(n, (int)dims));
        }
        m.Item1.SetRows(start, real);
        m.Item2.SetRows(start, pred);
    }
}
