using BrainMClip.Evaluation.Networks;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>Image embedding network for the CLIP 2-way metric (the project's CLIP ViT; kept behind an
/// interface).</summary>
public interface IImageEmbedder : IDisposable
{
    /// <summary>Side of the square input (224 for CLIP ViT-L/14).</summary>
    int InputSize { get; }

    /// <summary>(N,3,H,W) [0,1] protocol-prepared images → (N,D) projected image embeddings (resize, CLIP
    /// normalisation).</summary>
    Tensor Embed(Tensor images01);
}

/// <summary>What `evaluate` computes and where the metric networks come from.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Metric keys to compute (subset of <see cref="Evaluator.AllMetrics"/>).</summary>
    public required IReadOnlySet<string> Metrics { get; init; }
    /// <summary>Folder holding alexnet.safetensors, inception_v3.safetensors, efficientnet_b1.safetensors,
    /// swav_resnet50.safetensors, clip/.</summary>
    public string? NetsDir { get; init; }
    /// <summary>Builds the CLIP embedder from a folder (NETS/clip); null when no CLIP implementation is
    /// available.</summary>
    public Func<string, IImageEmbedder>? ClipFactory { get; init; }
    public int BatchSize { get; init; } = 8;
    /// <summary>Safetensors file for the ground truth's network features (<see cref="TruthFeatureCache"/>): read when
    /// it matches, otherwise computed and written; null = always computed, never stored.</summary>
    public string? TruthCache { get; init; }
}

/// <summary>Computes the reconstruction metrics of docs/evaluation.md over paired images.</summary>
public static class Evaluator
{
    public static readonly string[] AllMetrics = ["pixcorr", "ssim", "ssim_legacy", "alexnet2", "alexnet5", "inception",
        "clip", "efficientnet", "swav"];

    /// <summary>Weight file (in NETS) per network, and the metrics it serves.</summary>
    /// <summary>The metric networks, their weight files and the metrics each serves
    /// (<see cref="MetricNetwork.Files"/>).</summary>
    public static IReadOnlyList<(string net, string file, string[] metrics)> NetworkFiles => MetricNetwork.Files;

    public static IReadOnlySet<string> ParseMetricList(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Trim() == "all") return AllMetrics.ToHashSet();
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!AllMetrics.Contains(raw)) throw UserInputException.Invalid("Metrics",
                $"unknown metric '{raw}' (known: all, {string.Join(", ", AllMetrics)})");
            set.Add(raw);
        }
        return set;
    }

    public static MetricsReport Run(ImagePairs pairs, EvaluationOptions options, TextWriter? log = null) =>
        RunMany([pairs], options, log)[0];

    /// <summary>
    /// `evaluate`: <see cref="RunMany"/> over the sets (all against the ground truth <paramref name="truthPath"/>),
    /// each report saved to its path in <paramref name="outPaths"/> and its table written to
    /// <paramref name="log"/> (beside the published figures only when the truth is real NSD data).
    /// </summary>
    public static IReadOnlyList<MetricsReport> ScoreToFiles(IReadOnlyList<ImagePairs> sets, string truthPath,
        IReadOnlyList<string> outPaths, EvaluationOptions options, TextWriter log)
    {
        var reports = RunMany(sets, options, log);
        var source = DataProvenance.FromPath(truthPath);
        for (int k = 0; k < reports.Count; k++)
        {
            reports[k].Save(outPaths[k]);
            if (reports.Count > 1) log.WriteLine($"{sets[k].Recons.Source}:");
            log.Write(reports[k].FormatTable(published: source.Kind == DataKind.RealNsd));
            log.WriteLine($"wrote {outPaths[k]}");
        }
        return reports;
    }

    /// <summary>
    /// Scores several reconstruction sets of the same ground truth (e.g. BrainMCLIP, ridge and the upper bound) in one
    /// pass: the ground truth's network features are computed once and shared (with three sets that saves a third of
    /// the network time). Every set must pair the same image numbers; each gets its own report.
    /// </summary>
    public static IReadOnlyList<MetricsReport> RunMany(IReadOnlyList<ImagePairs> sets, EvaluationOptions options,
        TextWriter? log = null)
    {
        if (sets.Count == 0) throw new ArgumentException("no reconstruction sets", nameof(sets));
        var idx = sets[0].Indices;
        foreach (var s in sets.Skip(1))
            if (!s.Indices.SequenceEqual(idx))
                throw new UserInputException($"{s.Recons.Source}: its image numbers differ from those of " +
                                             $"{sets[0].Recons.Source}; sets evaluated together need the same numbers");
        return Score(sets[0].Truth, idx, sets, options, log);
    }

    /// <summary>
    /// `evaluate --truth-cache FILE` without reconstructions: computes the ground truth's network features of all its
    /// images into <see cref="EvaluationOptions.TruthCache"/> (or finds them there already), so that later evaluations
    /// of reconstruction sets skip those passes.
    /// </summary>
    public static void CacheTruth(ImageSet truth, EvaluationOptions options, TextWriter? log = null)
    {
        if (options.TruthCache is null) throw new ArgumentException("options.TruthCache is not set", nameof(options));
        if (truth.Indices.Count < 1) throw new UserInputException($"{truth.Source}: no images");
        Score(truth, truth.Indices, [], options, log);
    }

    static IReadOnlyList<MetricsReport> Score(ImageSet truth, IReadOnlyList<int> idx, IReadOnlyList<ImagePairs> sets,
        EvaluationOptions options, TextWriter? log)
    {
        var template = new MetricsReport { N = idx.Count, Indices = idx };
        var (nets, clip) = PlanNetworks(options, template);
        var loaded = new List<(string net, string[] metrics, MetricNetwork model)>();
        try
        {
            var networkMetrics = nets.SelectMany(x => x.metrics).Concat(clip is null ? [] : ["clip"]).ToList();
            string? clipDir = template.Networks.GetValueOrDefault("clip");
            string? fingerprint = options.TruthCache is null ? null : TruthFeatureCache.Fingerprint(truth.Source,
                nets.Select(x => x.path).Concat(clipDir is null ? [] : [clipDir]));
            var cached = fingerprint is null ? null
                : TruthFeatureCache.TryLoad(options.TruthCache!, fingerprint, idx, networkMetrics, log);
            // With the truth's features cached and no reconstructions, the networks are not needed at all.
            if (cached is null || sets.Count > 0)
                foreach (var x in nets)
                {
                    var model = MetricNetwork.Create(x.net);
                    loaded.Add((x.net, x.metrics, model));
                    var rep = model.LoadWeights(x.path);
                    string unused = rep.Unexpected.Count == 0 ? ""
                        : $" ({rep.Unexpected.Count} unused, e.g. {rep.Unexpected[0]})";
                    log?.WriteLine($"{x.net}: {rep.Loaded} tensors from {x.path}{unused}");
                }
            var work = new Scoring(truth, idx, sets, options.Metrics, loaded, clip, cached);
            work.Run(options.BatchSize);
            if (fingerprint is not null && cached is null)
            {
                TruthFeatureCache.Save(options.TruthCache!, fingerprint, idx, work.TruthFeatures);
                log?.WriteLine($"wrote {options.TruthCache} (the ground truth's features of {idx.Count} images)");
            }
            return sets.Select((_, k) => work.Report(k, template)).ToList();
        }
        finally
        {
            clip?.Dispose();
            foreach (var (_, _, model) in loaded) model.Dispose();
        }
    }

    /// <summary>Which networks are available; a missing file makes its metrics "skipped", never zero.</summary>
    static (List<(string net, string path, string[] metrics)> Nets, IImageEmbedder? Clip) PlanNetworks(
        EvaluationOptions options, MetricsReport report)
    {
        var want = options.Metrics;
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
                    report.Skipped[m] =
                        options.NetsDir == null ? $"no metric-network folder given (needs {file})"
                            : $"{file} not found in {options.NetsDir}";
            }
        }
        IImageEmbedder? clip = null;
        if (want.Contains("clip"))
        {
            string? clipDir = options.NetsDir == null ? null : Path.Combine(options.NetsDir, "clip");
            if (clipDir == null || !Directory.Exists(clipDir))
                report.Skipped["clip"] =
                    clipDir == null ? "no metric-network folder given (needs clip/)"
                        : $"clip/ (a Hugging Face CLIP folder) not found in {options.NetsDir}";
            else if (options.ClipFactory == null) report.Skipped["clip"] = "this build has no CLIP image embedder";
            else { clip = options.ClipFactory(clipDir); report.Networks["clip"] = clipDir; }
        }
        // Label seeded random weights (nets-init) so their scores are never read as perceptual similarity.
        if (options.NetsDir != null)
            foreach (var (net, origin) in RandomMetricNetworks.Describe(options.NetsDir))
                if (report.Networks.GetValueOrDefault(net) != null) report.NetworkWeights[net] = origin;
        return (nets, clip);
    }

    /// <summary>The batched pass over the images: truth features once, then each set's features and metrics.</summary>
    sealed class Scoring
    {
        readonly ImageSet truthImages;
        readonly IReadOnlyList<int> idx;
        readonly IReadOnlyList<ImagePairs> sets;
        readonly IReadOnlySet<string> want;
        readonly bool _truthCached;
        readonly List<(string net, string[] metrics, MetricNetwork model)> loaded;
        readonly IImageEmbedder? clip;
        readonly int _n;
        readonly Dictionary<string, FeatureMatrix> _truth;
        readonly List<Dictionary<string, FeatureMatrix>> _pred;
        /// <summary>Per set: PixCorr, SSIM and legacy SSIM per image.</summary>
        readonly List<double[][]> _low;

        public Scoring(ImageSet truth, IReadOnlyList<int> idx, IReadOnlyList<ImagePairs> sets,
            IReadOnlySet<string> want, List<(string net, string[] metrics, MetricNetwork model)> loaded,
            IImageEmbedder? clip, Dictionary<string, FeatureMatrix>? cachedTruth)
        {
            truthImages = truth; this.idx = idx;
            this.sets = sets; this.want = want; this.loaded = loaded; this.clip = clip;
            _n = idx.Count;
            _truthCached = cachedTruth is not null;
            _truth = cachedTruth ?? new(StringComparer.Ordinal);
            _pred = sets.Select(_ => new Dictionary<string, FeatureMatrix>(StringComparer.Ordinal)).ToList();
            _low = sets.Select(_ => Enumerable.Range(0, 3).Select(_ => new double[_n]).ToArray()).ToList();
        }

        /// <summary>The ground truth's network features (N×D per metric), computed or from the cache.</summary>
        public IReadOnlyDictionary<string, FeatureMatrix> TruthFeatures => _truth;

        public void Run(int batchSize)
        {
            bool lowLevel = want.Contains("pixcorr") || want.Contains("ssim") || want.Contains("ssim_legacy");
            if (sets.Count == 0 && _truthCached) return;
            // Progress counts every image that goes through the networks: the truth's (unless cached) and each set's.
            using var bar = new ProgressBar("evaluate", (long)_n * (sets.Count + (_truthCached ? 0 : 1)), "img");
            for (int start = 0; start < _n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(batchSize, _n - start);
                // The truth's images are needed for its network pass (unless cached) and for PixCorr/SSIM.
                var truth = (sets.Count > 0 && lowLevel) || !_truthCached ? Read(truthImages, idx, start, count) : null;
                if (!_truthCached)
                {
                    using (no_grad()) Extract(truth!, _truth, start);
                    bar.Advance(count);
                }
                for (int s = 0; s < sets.Count; s++)
                {
                    using var setScope = NewDisposeScope();   // this set's images and outputs, not the truth's
                    var recon = Read(sets[s].Recons, idx, start, count);
                    var low = _low[s];
                    if (lowLevel)
                        Parallel.For(0, count, k =>
                        {
                            var r = LowLevelMetrics.Compute(truth![k], recon[k], want.Contains("pixcorr"),
                                want.Contains("ssim"), want.Contains("ssim_legacy"));
                            low[0][start + k] = r.PixCorr; low[1][start + k] = r.Ssim; low[2][start + k] = r.SsimLegacy;
                        });
                    // Each image is resized straight to the network's input size (no intermediate size), then batched.
                    using (no_grad()) Extract(recon, _pred[s], start);
                    bar.Advance(count);
                }
            }
        }

        static List<Tensor> Read(ImageSet set, IReadOnlyList<int> idx, int start, int count) =>
            Enumerable.Range(start, count).Select(k => ImageTensors.Prepare(set.ReadTensor(idx[k]))).ToList();

        void Extract(List<Tensor> images, Dictionary<string, FeatureMatrix> into, int start)
        {
            // One network pass at a time: its activations are freed as soon as the features are copied out, so peak
            // memory is one pass, not every network's passes over the truth and all sets of the batch.
            foreach (var (_, metrics, model) in loaded)
            {
                using var scope = NewDisposeScope();
                var f = model.Extract(model.Preprocess(Batch(images, model.InputSize)));
                foreach (var m in metrics) Store(into, m, _n, start, f[NodeFor(m)]);
            }
            if (clip != null)
            {
                using var scope = NewDisposeScope();
                Store(into, "clip", _n, start, clip.Embed(Batch(images, clip.InputSize)));
            }
        }

        public MetricsReport Report(int set, MetricsReport template)
        {
            var report = new MetricsReport { N = template.N, Indices = template.Indices };
            foreach (var (k, v) in template.Networks) report.Networks[k] = v;
            foreach (var (k, v) in template.Skipped) report.Skipped[k] = v;
            foreach (var (k, v) in template.NetworkWeights) report.NetworkWeights[k] = v;
            string[] lowNames = ["pixcorr", "ssim", "ssim_legacy"];
            for (int k = 0; k < 3; k++)
                if (want.Contains(lowNames[k]))
                    report.Metrics[lowNames[k]] = new MetricResult(_low[set][k].Average(), _low[set][k]);
            foreach (var (metric, real) in _truth)
            {
                var pred = _pred[set][metric];
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
            return report;
        }
    }

    static Tensor Batch(List<Tensor> images, int size) =>
        cat(images.Select(t => ImageTensors.Resize(t, size, size)).ToList(), 0);

    static string NodeFor(string metric) => metric switch
    {
        "alexnet2" => "features.4",
        "alexnet5" => "features.11",
        _ => "avgpool",
    };

    /// <summary>Stores a batch of features in the metric's N×D float32 matrix (allocated with the first
    /// batch).</summary>
    static void Store(Dictionary<string, FeatureMatrix> feats, string metric, int n, int start, Tensor batch)
    {
        if (!feats.TryGetValue(metric, out var m))
        {
            long dims = batch.numel() / batch.shape[0];
            if (dims * n > Array.MaxLength) throw new InvalidOperationException(
                $"{metric}: {n}×{dims} features exceed one array");
            feats[metric] = m = new FeatureMatrix(n, (int)dims);
        }
        m.SetRows(start, batch);
    }
}
