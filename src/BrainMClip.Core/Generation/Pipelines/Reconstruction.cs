using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>Settings of one <c>reconstruct</c> run.</summary>
public sealed record ReconstructOptions
{
    public required string PredPath { get; init; }
    public required string GeneratorPath { get; init; }
    public required string OutDir { get; init; }
    public int Steps { get; init; } = 20;
    public double Guidance { get; init; } = 3.5;
    public int Candidates { get; init; } = 1;
    public double Fusion { get; init; } = Conditioning.DefaultLambda;
    public long Seed { get; init; }
    public string Scheduler { get; init; } = "ddim";
    public string Device { get; init; } = TorchSetup.DefaultDevice;
    public int? Limit { get; init; }
    public bool Resume { get; init; }
    /// <summary>float32, bfloat16 or float16 weights/activations.</summary>
    public string DType { get; init; } = "float32";
    /// <summary>Attention slice size in (batch×head) rows; null = no slicing.</summary>
    public int? AttentionSlice { get; init; }
    /// <summary>
    /// Training features file: re-standardise the predicted tokens to its CLIP-Semantic statistics before fusion, as
    /// Brain-Diffuser does before conditioning Versatile Diffusion; null = use the predictions as they are.
    /// </summary>
    public string? RestandardizeWith { get; init; }
    /// <summary>Render only this contiguous block of the test samples (array jobs); the manifest is per
    /// shard.</summary>
    public Shard Shard { get; init; } = Shard.Whole;
    /// <summary>
    /// <see cref="PredPath"/> is a features file and the generator is conditioned on its true CLIP-Semantic tokens
    /// (the upper bound: what the generator makes of perfect decoding), instead of brain predictions.
    /// </summary>
    public bool FromTrueFeatures { get; init; }
    /// <summary>
    /// Samples (test image × candidate) denoised together per UNet call (2× the rows with guidance); only the time
    /// per image changes. Each sample keeps its own seeded noise (<see cref="ImageVariationPipeline.GenerateEach"/>),
    /// so the images equal K = 1's within float32 rounding order on every CPU (≤ 1 grey level), and to the bit while
    /// every GEMM stays in one rounding regime across K: measured for the demo's generator on Intel; not on AMD Zen 4,
    /// nor for the 860 M-parameter VD UNet on 2 threads (docs/performance.md, docs/reliability.md).
    /// </summary>
    public int Batch { get; init; } = Reconstruction.DefaultBatch;
}

/// <summary>The summary a run returns (also printed as JSON by the CLI).</summary>
public sealed record ReconstructResult(int Images, int Written, int Skipped, double SecondsPerImage, string Manifest);

/// <summary>
/// Reconstructs test images from brain predictions: fused conditioning (docs/model.md), guided sampling, best-of-N by
/// similarity to the brain-predicted tokens, PNGs <c>rec_000.png</c>… named by test index and a <c>reconstruct.json</c>
/// manifest. Files are written atomically and <see cref="ReconstructOptions.Resume"/> skips finished images.
/// </summary>
public static class Reconstruction
{
    /// <summary>Default <see cref="ReconstructOptions.Batch"/>, chosen by measurement (docs/performance.md).</summary>
    public const int DefaultBatch = 4;

    /// <summary>The conditioning of every test sample from PRED.safetensors (see <see
    /// cref="Conditioning.FromPredictions"/>).</summary>
    /// <param name="restandardizeWith">Optional training features file (see <see
    /// cref="ReconstructOptions.RestandardizeWith"/>).</param>
    public static (Tensor Conditioning, Tensor Semantic, string Source) LoadConditioning(string predPath, double lambda,
        string? restandardizeWith = null)
    {
        if (restandardizeWith is null) return Conditioning.FromPredictions(predPath, lambda);
        return Conditioning.FromPredictions(predPath, lambda,
            semantic =>
            {
                var (mean, std) = FeatureFile.SemanticStatistics(restandardizeWith, semantic.shape[1],
                    semantic.shape[2]);
                return new Conditioning.Statistics(mean, std, restandardizeWith);
            });
    }

    public static ScalarType ParseDType(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "fp32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" => ScalarType.Float16,
        _ => throw UserInputException.Invalid("DType",
            $"unknown precision '{name}' (expected float32, bfloat16 or float16)"),
    };

    /// <summary>The seed of candidate <paramref name="k"/> of test image <paramref name="index"/>: independent of
    /// --limit and --resume.</summary>
    public static ulong CandidateSeed(long seed, int index, int k) =>
        unchecked((ulong)seed * 1_000_003UL + (ulong)index * 1009UL + (ulong)k);

    public static string ImageName(int index) => $"rec_{index:000}.png";

    /// <summary><c>reconstruct.json</c>; per shard its own, so array tasks sharing --out keep each other's.</summary>
    public static string ManifestName(Shard shard) =>
        shard.IsWhole ? "reconstruct.json" : $"reconstruct.shard-{shard.Index}-of-{shard.Count}.json";

    /// <param name="scorerFactory">Builds the best-of-N scorer from the generator's <c>clip/</c> folder; needed when
    /// Candidates &gt; 1.</param>
    public static ReconstructResult Run(ReconstructOptions o, Func<string, ICandidateScorer>? scorerFactory = null,
        TextWriter? log = null)
    {
        Validate(o);
        var device = TorchSetup.ParseDevice(o.Device);
        var dtype = ParseDType(o.DType);
        using var outer = NewDisposeScope();
        var (cond, semantic, source) = o.FromTrueFeatures
            ? UpperBound.LoadConditioning(o.PredPath) : LoadConditioning(o.PredPath, o.Fusion, o.RestandardizeWith);
        int n = (int)cond.shape[0];
        if (o.Limit is { } lim) n = Math.Min(n, lim);
        var (first, end) = o.Shard.Range(n);

        using var gen = GeneratorFolder.Load(o.GeneratorPath, dtype);
        if (device.type != DeviceType.CPU) { gen.Unet.to(device); gen.Vae?.to(device); }
        (cond, source) = DetailContext.Append(cond, source, o, gen.Info);
        if (cond.shape[2] != gen.Unet.Config.CrossAttentionDim)
            throw new UserInputException(
                $"{o.PredPath}: the conditioning tokens have width {cond.shape[2]} " +
                $"({string.Join(" + ", gen.Info?.ContextStreams ?? [GeneratorInfo.SemanticStream])}) but the " +
                $"generator's UNet expects cross_attention_dim {gen.Unet.Config.CrossAttentionDim}");
        if (o.AttentionSlice is { } sl) gen.Unet.SetAttentionSlicing(sl);
        var pipe = gen.CreatePipeline(o.Scheduler);
        ICandidateScorer? scorer = null;
        if (o.Candidates > 1)
        {
            if (gen.ClipFolder == null)
                throw UserInputException.Invalid(nameof(o.Candidates),
                    $"{o.GeneratorPath}: {o.Candidates} candidates need a CLIP model for best-of-N: put a Hugging " +
                    $"Face CLIP folder at {Path.Combine(o.GeneratorPath, "clip")}");
            if (scorerFactory == null)
                throw UserInputException.Invalid(nameof(o.Candidates),
                    "more than 1 candidate: no CLIP scorer is available in this build");
            scorer = scorerFactory(gen.ClipFolder);
        }
        try
        {
            Directory.CreateDirectory(o.OutDir);
            string manifestPath = Path.Combine(o.OutDir, ManifestName(o.Shard));
            var (entries, oldSettings) = ReadManifest(manifestPath, o.Resume);
            var settings = Settings(o, gen, pipe, source);
            // Resuming with other settings would mix images of two different runs in one folder.
            if (oldSettings != null && oldSettings.ToJsonString() != settings.ToJsonString())
                throw new UserInputException(
                    $"{manifestPath}: the images in {o.OutDir} were made with other settings " +
                    $"({oldSettings.ToJsonString()}); resume with the same options or use another output folder");
            for (int f = first; f < end; f++) AtomicFile.DeleteStaleTemps(Path.Combine(o.OutDir, ImageName(f)));
            AtomicFile.DeleteStaleTemps(manifestPath);
            var clock = Stopwatch.StartNew();
            using var bar = new ProgressBar("reconstruct", (long)(end - first) * o.Candidates * o.Steps, "step", log);
            var todo = new List<int>();
            for (int i = first; i < end; i++)
            {
                // Skip only images the manifest records: a kill between the PNG and the manifest write leaves a PNG
                // without its entry (seed, chosen candidate); regenerating it gives the same bytes and the entry.
                if (o.Resume && File.Exists(Path.Combine(o.OutDir, ImageName(i))) && entries.ContainsKey(i))
                    bar.Advance((long)o.Candidates * o.Steps, $"skip {ImageName(i)}");
                else todo.Add(i);
            }
            int skipped = end - first - todo.Count, written = 0;
            var batches = new BatchedSampler(o, pipe, scorer, cond, semantic, device, bar, end);
            batches.Run(todo, (i, entry) =>
            {
                entries[i] = entry;
                written++;
                WriteManifest(manifestPath, settings, entries, clock.Elapsed.TotalSeconds, written);
            });
            WriteManifest(manifestPath, settings, entries, clock.Elapsed.TotalSeconds, written);
            double perImage = written > 0 ? clock.Elapsed.TotalSeconds / written : 0;
            return new ReconstructResult(end - first, written, skipped, perImage, manifestPath);
        }
        finally
        {
            scorer?.Dispose();
            (pipe.Scheduler as IDisposable)?.Dispose();
        }
    }

    static void Validate(ReconstructOptions o)
    {
        UserInputException.Require(o.Steps >= 1, nameof(o.Steps), $"sampling steps must be at least 1 (got {o.Steps})");
        UserInputException.Require(o.Candidates >= 1, nameof(o.Candidates),
            $"candidates per image must be at least 1 (got {o.Candidates})");
        UserInputException.Require(o.Guidance >= 0, nameof(o.Guidance),
            $"guidance scale must not be negative (got {o.Guidance})");
        UserInputException.Require(o.Batch >= 1, nameof(o.Batch), $"batch must be at least 1 (got {o.Batch})");
        UserInputException.Require(o.Limit is not < 1, nameof(o.Limit),
            $"sample limit must be at least 1 (got {o.Limit})");
        UserInputException.Require(o.AttentionSlice is not < 1, nameof(o.AttentionSlice),
            $"attention slice must be at least 1 row (got {o.AttentionSlice})");
    }

    /// <summary>With --resume: the finished images recorded in an existing manifest, and its settings.</summary>
    static (SortedDictionary<int, JsonObject> Entries, JsonNode? Settings) ReadManifest(string manifestPath,
        bool resume)
    {
        var entries = new SortedDictionary<int, JsonObject>();
        if (!resume || !File.Exists(manifestPath)) return (entries, null);
        try
        {
            var old = JsonNode.Parse(File.ReadAllText(manifestPath));
            if (old?["images"] is JsonArray arr)
                foreach (var e in arr.OfType<JsonObject>())
                    if (e["index"]?.GetValue<int>() is { } idx) entries[idx] = (JsonObject)e.DeepClone();
            return (entries, old?["settings"]);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new UserInputException($"{manifestPath}: cannot resume, manifest is not valid ({e.Message})");
        }
    }

    /// <summary>The settings recorded in the manifest (a resumed run must have the same).</summary>
    static JsonObject Settings(ReconstructOptions o, GeneratorFolder gen, ImageVariationPipeline pipe, string source) =>
        new()
        {
            ["pred"] = Path.GetFullPath(o.PredPath),
            ["generator"] = gen.Folder,
            ["kind"] = gen.Vae == null ? "pixel" : "latent",
            ["steps"] = o.Steps,
            ["guidance"] = o.Guidance,
            ["candidates"] = o.Candidates,
            ["fusion"] = o.Fusion,
            ["conditioning"] = source,
            ["seed"] = o.Seed,
            ["scheduler"] = o.Scheduler,
            ["dtype"] = o.DType,
            ["attention_slice"] = o.AttentionSlice,
            ["unconditional_context"] = "zeros",
            ["best_of_n"] = o.Candidates > 1
                ? "cosine(CLIP tokens of candidate, brain-predicted semantic tokens)"
                : null,
            ["image_size"] = pipe.DefaultImageSize,
        };

    static void WriteManifest(string path, JsonObject settings, SortedDictionary<int, JsonObject> entries,
        double seconds, int written)
    {
        var root = new JsonObject
        {
            ["settings"] = settings.DeepClone(),
            ["seconds_this_run"] = Math.Round(seconds, 3),
            ["written_this_run"] = written,
            ["images"] = new JsonArray(entries.Values.Select(e => (JsonNode)e.DeepClone()).ToArray()),
        };
        AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>(3, H, W) in [0, 1] → 8-bit RGB (round half up, as PIL's conversion of x·255 + 0.5).</summary>
    public static RgbImage ToRgb(Tensor chw01)
    {
        using var scope = NewDisposeScope();
        var hwc = (chw01.to_type(ScalarType.Float32).clamp(0, 1) * 255 + 0.5).floor().clamp(0,
            255).to_type(ScalarType.Byte)
            .permute(1, 2, 0).contiguous();
        return new RgbImage((int)hwc.shape[1], (int)hwc.shape[0], hwc.data<byte>().ToArray());
    }
}
