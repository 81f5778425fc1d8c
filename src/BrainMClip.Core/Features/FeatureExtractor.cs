using System.Diagnostics;
using System.Text.Json;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>Settings of one extraction run (<c>brainmclip features</c>).</summary>
public sealed record FeatureExtractionOptions
{
    /// <summary>HF CLIP folder.</summary>
    public required string Checkpoint { get; init; }
    /// <summary>Image folder, image file, stimulus .npy, HDF5 file (optionally FILE:DATASET) or pixel_values
    /// safetensors.</summary>
    public required string Input { get; init; }
    /// <summary>HDF5 dataset name (default "images").</summary>
    public string? Dataset { get; init; }
    public required string Output { get; init; }
    /// <summary>"a-b" hidden-state range for CLIP-Detail; null = the model's default (11-20 for 24 layers, scaled
    /// otherwise).</summary>
    public string? DetailLayers { get; init; }
    /// <summary>Hidden states to store as <c>hidden_states.k</c>: null = none, "all", or a list like "0,6,12" /
    /// "4-8".</summary>
    public string? HiddenStates { get; init; }
    public int Batch { get; init; } = 16;
    /// <summary>Shard index and count: this run processes the i-th contiguous block of batches.</summary>
    public int ShardIndex { get; init; }
    public int ShardCount { get; init; } = 1;
    public Device? Device { get; init; }
    /// <summary>Float32 (default) or Float16 storage of the output tensors.</summary>
    public ScalarType OutputDType { get; init; } = ScalarType.Float32;
    /// <summary>Continue from the per-batch files in OUTPUT.partial/ of an interrupted run with the same
    /// settings.</summary>
    public bool Resume { get; init; }
    /// <summary>Show a progress bar on stderr.</summary>
    public bool Progress { get; init; } = true;
    /// <summary>Stops between batches (finished batches stay in OUTPUT.partial/ for --resume).</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Called after each batch is saved, with (batch index, rows in it).</summary>
    public Action<long, int>? BatchSaved { get; init; }
}

public sealed record FeatureExtractionResult(
    string Output, long Samples, long RowOffset, long TotalSamples, int FirstDetailLayer, int LastDetailLayer,
    int[] HiddenStates, int BatchesComputed, int BatchesReused, double Seconds, long Tokens, long Width,
        long ProjectionDim);

/// <summary>
/// Batched CLIP feature extraction (docs/features.md) with sharding and resumption. Batches are fixed blocks of
/// absolute rows (batch k = rows [k·B, (k+1)·B)); a shard is a contiguous block of whole batches, so every batch is
/// computed on exactly the same input whether the run is sharded or not, which makes merged shards byte-identical to
/// one run. Each finished batch is saved atomically to OUTPUT.partial/; the final file is assembled from them
/// atomically (so the disk briefly holds the output twice) and the folder is then removed.
/// </summary>
public static class FeatureExtractor
{
    public static FeatureExtractionResult Run(FeatureExtractionOptions o)
    {
        var clock = Stopwatch.StartNew();
        Validate(o);

        using var source = ImageSources.Open(o.Input, o.Dataset); // cheap checks of the input before loading the model
        using var model = ClipVisionModel.FromPretrained(o.Checkpoint, o.Device);
        var cfg = model.Config;
        var processor = ClipImageProcessor.FromFolder(o.Checkpoint);
        if (processor.DoCenterCrop && (processor.CropHeight != cfg.ImageSize || processor.CropWidth != cfg.ImageSize))
            throw new UserInputException(
                $"{o.Checkpoint}: preprocessor crop {processor.CropHeight}x{processor.CropWidth} does not match the " +
                $"model's image_size {cfg.ImageSize}");
        var detail = o.DetailLayers is
        { } d ? ClipRunOptions.ParseLayerRange(d, cfg.NumHiddenLayers) : cfg.DefaultDetailLayers;
        int[] hidden = ParseHiddenStates(o.HiddenStates, cfg.NumHiddenLayers);

        long total = source.Count;
        long batches = (total + o.Batch - 1) / o.Batch;
        long b0 = batches * o.ShardIndex / o.ShardCount, b1 = batches * (o.ShardIndex + 1) / o.ShardCount;
        long rowStart = Math.Min(b0 * o.Batch, total), rowEnd = Math.Min(b1 * o.Batch, total);

        string dtypeName = o.OutputDType == ScalarType.Float16 ? "float16" : "float32";
        var meta = new Dictionary<string, string>
        {
            [FeatureFile.Keys.FormatKey] = FeatureFile.Format,
            [FeatureFile.Keys.Checkpoint] = model.Source!,
            [FeatureFile.Keys.DetailLayers] = $"{detail.First}-{detail.Last}",
            [FeatureFile.Keys.Source] = source.Description,
            [FeatureFile.Keys.Samples] = (rowEnd - rowStart).ToString(),
            [FeatureFile.Keys.TotalSamples] = total.ToString(),
            [FeatureFile.Keys.RowOffset] = rowStart.ToString(),
            [FeatureFile.Keys.Shard] = $"{o.ShardIndex}/{o.ShardCount}",
            [FeatureFile.Keys.HiddenStates] = string.Join(",", hidden),
            [FeatureFile.Keys.DType] = dtypeName,
            [FeatureFile.Keys.Batch] = o.Batch.ToString(),
        };

        AtomicFile.DeleteStaleTemps(o.Output); // a run killed while assembling the output leaves a full-size temp
        string partial = PreparePartialFolder(o, meta);

        var columns = new List<FeatureFile.Column>
        {
            new(FeatureFile.Detail, DTypeName(o.OutputDType), [cfg.NumTokens, cfg.HiddenSize]),
            new(FeatureFile.Semantic, DTypeName(o.OutputDType), [cfg.NumTokens, cfg.ProjectionDim]),
            new(FeatureFile.ImageEmbeds, DTypeName(o.OutputDType), [cfg.ProjectionDim]),
        };
        columns.AddRange(
            hidden.Select(k =>
            new FeatureFile.Column(FeatureFile.HiddenStatePrefix + k, DTypeName(o.OutputDType),
            [cfg.NumTokens, cfg.HiddenSize])));

        var runOpts = new ClipRunOptions { DetailLayers = detail, HiddenStates = hidden };
        var parts = new List<string>();
        int computed = 0, reused = 0;
        using (var bar = o.Progress ? new ProgressBar($"features {meta[FeatureFile.Keys.Shard]}", rowEnd - rowStart,
            "img") : null)
        {
            for (long b = b0; b < b1; b++)
            {
                long start = b * o.Batch;
                int n = (int)Math.Min(o.Batch, total - start);
                string part = Path.Combine(partial, $"batch-{b:D7}.safetensors");
                parts.Add(part);
                if (o.Resume && File.Exists(part)) { reused++; bar?.Advance(n, "resumed"); continue; }
                o.Cancellation.ThrowIfCancellationRequested();
                ExtractBatch(o, source, processor, model, runOpts, start, n, part);
                computed++;
                bar?.Advance(n);
                o.BatchSaved?.Invoke(b, n);
            }
        }
        FeatureFile.Concatenate(o.Output, parts, columns, meta);
        Directory.Delete(partial, recursive: true);
        return new FeatureExtractionResult(Path.GetFullPath(o.Output), rowEnd - rowStart, rowStart, total, detail.First,
            detail.Last,
            hidden, computed, reused, clock.Elapsed.TotalSeconds, cfg.NumTokens, cfg.HiddenSize, cfg.ProjectionDim);
    }

    static void Validate(FeatureExtractionOptions o)
    {
        UserInputException.Require(o.Batch > 0, nameof(o.Batch), $"batch must be a positive number (got {o.Batch})");
        UserInputException.Require(o.ShardCount > 0 && o.ShardIndex >= 0 && o.ShardIndex < o.ShardCount, "Shard",
            $"shard {o.ShardIndex}/{o.ShardCount}: expected i/n with 0 <= i < n");
        UserInputException.Require(o.OutputDType is ScalarType.Float32 or ScalarType.Float16, nameof(o.OutputDType),
            $"storage type {o.OutputDType}: expected float32 or float16");
        AtomicFile.RequireWritable(o.Output, "output file"); // fail now, not after the whole extraction
    }

    /// <summary>
    /// The OUT.partial folder of per-batch files with its job.json: kept with --resume when the settings agree,
    /// otherwise discarded; returns its path.
    /// </summary>
    static string PreparePartialFolder(FeatureExtractionOptions o, Dictionary<string, string> meta)
    {
        string partial = Path.GetFullPath(o.Output) + ".partial";
        string jobFile = Path.Combine(partial, "job.json");
        string job = JsonSerializer.Serialize(meta.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(),
            new JsonSerializerOptions { WriteIndented = true });
        if (Directory.Exists(partial))
        {
            if (o.Resume)
            {
                // No job.json: the run was killed between creating the folder and writing it, before any batch
                // (batches are written only after job.json), so there is nothing to keep.
                if (!File.Exists(jobFile)) Directory.Delete(partial, recursive: true);
                else
                {
                    string old = File.ReadAllText(jobFile);
                    if (old != job)
                        throw new UserInputException(
                            $"{partial}: left by an extraction with other settings; delete it or start afresh " +
                            $"instead of resuming (previous settings: {old})");
                    foreach (var tmp in Directory.EnumerateFiles(partial, ".*.tmp")) File.Delete(tmp);
                }
            }
            else
            {
                if (o.Progress)
                    Console.Error.WriteLine(
                        $"features: discarding the unfinished run in {partial} (resume to continue it)");
                Directory.Delete(partial, recursive: true);
            }
        }
        Directory.CreateDirectory(partial);
        if (!File.Exists(jobFile)) AtomicFile.WriteAllText(jobFile, job);
        return partial;
    }

    /// <summary>Runs the model on rows [start, start+n) and writes them as one part file.</summary>
    static void ExtractBatch(FeatureExtractionOptions o, IImageSource source, ClipImageProcessor processor,
        ClipVisionModel model, ClipRunOptions runOpts, long start, int n, string part)
    {
        using var scope = NewDisposeScope();
        var px = source.Load(start, n, processor);
        using var r = model.Run(px, runOpts);
        var tensors = new Dictionary<string, Tensor>
        {
            [FeatureFile.Detail] = r.DetailMean!.cpu(),
            [FeatureFile.Semantic] = r.VdTokens.cpu(),
            [FeatureFile.ImageEmbeds] = r.ImageEmbeds.cpu(),
        };
        foreach (var k in runOpts.HiddenStates ?? []) tensors[FeatureFile.HiddenStatePrefix
            + k] = r.HiddenStates[k].cpu();
        FeatureFile.WritePart(part, tensors, o.OutputDType);
    }

    static string DTypeName(ScalarType t) => t == ScalarType.Float16 ? "F16" : "F32";

    /// <summary>null → none; "all" → 0..L; otherwise a comma list of indices and ranges ("0,6,12", "4-8").</summary>
    public static int[] ParseHiddenStates(string? spec, int numLayers)
    {
        if (spec == null) return [];
        if (spec.Trim() is "" or "all") return Enumerable.Range(0, numLayers + 1).ToArray();
        var set = new SortedSet<int>();
        foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var (a, b) = ClipRunOptions.ParseLayerRange(part, numLayers, nameof(FeatureExtractionOptions.HiddenStates));
            for (int k = a; k <= b; k++) set.Add(k);
        }
        return set.ToArray();
    }
}
