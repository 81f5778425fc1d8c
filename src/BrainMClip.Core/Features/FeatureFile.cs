using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>
/// Feature files (docs/features.md): safetensors with <c>detail</c> (N,T,W), <c>semantic</c> (N,T,P),
/// <c>image_embeds</c> (N,P)
/// and optional <c>hidden_states.k</c>, plus string metadata. Files are assembled by streaming rows from part files
/// (per-batch files of one run, or the shards of an array job), so a 73,000-image ViT-L file never sits in memory,
/// and a merge of shards is byte-identical to an unsharded run.
/// </summary>
public static class FeatureFile
{
    public const string Format = "brainmclip-features/1";

    /// <summary>Metadata keys; <see cref="ShardKeys"/> differ between shards, every other key must agree.</summary>
    public static class Keys
    {
        public const string FormatKey = "format", Checkpoint = "checkpoint", DetailLayers = "detail_layers",
            Source = "source",
            Samples = "samples", TotalSamples = "total_samples", RowOffset = "row_offset", Shard = "shard",
            HiddenStates = "hidden_states", DType = "dtype", Batch = "batch";
    }

    static readonly string[] ShardKeys = [Keys.Samples, Keys.RowOffset, Keys.Shard];

    /// <summary>Tensor names: CLIP-Detail (N,T,W), CLIP-Semantic (N,T,P), projected embeddings, hidden state
    /// k.</summary>
    public const string Detail = "detail", Semantic = "semantic", ImageEmbeds = "image_embeds",
        HiddenStatePrefix = "hidden_states.";

    /// <summary>The header of a feature file (tensor names, dtypes, shapes, metadata) without reading tensor
    /// data.</summary>
    public static SafeTensors.Header ReadHeader(string path) => SafeTensors.ReadHeader(path);

    /// <summary>Rows [start, start+count) of one tensor (count −1: to the end), as stored.</summary>
    public static Tensor Read(string path, string name, long start = 0, long count = -1) =>
        SafeTensors.LoadTensor(path, name, start, count);

    /// <summary>One part file of an extraction run (rows of a batch), floating tensors stored as <paramref
    /// name="dtype"/>.</summary>
    public static void WritePart(string path, IReadOnlyDictionary<string, Tensor> tensors, ScalarType? dtype) =>
        SafeTensors.Save(path, tensors, castFloatTo: dtype);

    /// <summary>Several whole tensors at once.</summary>
    public static Dictionary<string, Tensor> ReadAll(string path, IEnumerable<string> names) =>
        SafeTensors.Load(path, names);

    /// <summary>
    /// Mean and std (float64, (T,P), ddof 1) over the rows of a feature file's 'semantic' tensor, read in chunks — the
    /// target statistics of <c>reconstruct --restandardize</c>; the file must match the predictions' T and P.
    /// </summary>
    public static (Tensor Mean, Tensor Std) SemanticStatistics(string path, long tokens, long width) =>
        TokenStatistics(path, Semantic, tokens, width);

    /// <summary>Per-token, per-channel mean and std (T, W) over the rows of tensor <paramref name="name"/> ('semantic'
    /// or 'detail'), read in chunks.</summary>
    public static (Tensor Mean, Tensor Std) TokenStatistics(string path, string name, long tokens, long width)
    {
        var h = ReadHeader(path);
        if (!h.Entries.TryGetValue(name, out var e))
            throw new UserInputException(
                $"{path}: tensor '{name}' not found (re-standardisation expects a features file written by " +
                "'features')");
        if (e.Shape.Length != 3 || e.Shape[1] != tokens || e.Shape[2] != width || e.Shape[0] < 2)
            throw new UserInputException(
                $"{path}: '{name}' is [{string.Join(",", e.Shape)}]; expected (N ≥ 2, {tokens}, {width}) like the " +
                "predictions");
        using var scope = NewDisposeScope();
        long n = e.Shape[0];
        var sum = zeros(tokens, width, dtype: ScalarType.Float64);
        var sq = zeros_like(sum);
        for (long r = 0; r < n; r += 256)
        {
            using var chunkScope = NewDisposeScope();
            var x = Read(path, name, r, Math.Min(256, n - r)).to_type(ScalarType.Float64);
            sum.add_(x.sum([0]));
            sq.add_((x * x).sum([0]));
        }
        var mean = sum / n;
        var std = ((sq - mean * mean * n) / (n - 1)).clamp_min(0).sqrt();
        return (mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope());
    }

    /// <summary>One tensor of a feature file: name, safetensors dtype and the shape of one row.</summary>
    public sealed record Column(string Name, string DType, long[] RowShape);

    public static IReadOnlyList<Column> ColumnsOf(SafeTensors.Header h) =>
        h.Entries.Values.OrderBy(e => e.Name, StringComparer.Ordinal)
            .Select(e => new Column(e.Name, e.DType, e.Shape.Length == 0
                ? throw new UserInputException(
                    $"{h.Path}: tensor '{e.Name}' is a scalar; feature tensors have a sample dimension")
                : e.Shape[1..])).ToList();

    /// <summary>
    /// Writes <paramref name="outPath"/> atomically with the rows of every part in order. Each part must hold exactly
    /// <paramref name="columns"/> (same dtypes and row shapes); metadata keys are written in sorted order.
    /// </summary>
    public static long Concatenate(string outPath, IReadOnlyList<string> parts, IReadOnlyList<Column> columns,
        IReadOnlyDictionary<string, string> metadata)
    {
        var headers = parts.Select(SafeTensors.ReadHeader).ToList();
        long rows = 0;
        foreach (var h in headers)
        {
            long? partRows = null;
            if (h.Entries.Count != columns.Count)
                throw new UserInputException(
                    $"{h.Path}: has tensors [{string.Join(", ", h.Entries.Keys.Order(StringComparer.Ordinal))}]; " +
                    $"expected [{string.Join(", ", columns.Select(c => c.Name))}]");
            foreach (var c in columns)
            {
                if (!h.Entries.TryGetValue(c.Name, out var e))
                    throw new UserInputException($"{h.Path}: tensor '{c.Name}' missing");
                if (e.DType != c.DType || e.Shape.Length != c.RowShape.Length + 1
                    || !e.Shape[1..].SequenceEqual(c.RowShape))
                    throw new UserInputException(
                        $"{h.Path}: tensor '{c.Name}' is {e.DType} [{string.Join(",", e.Shape)}]; expected {c.DType} " +
                        $"[N,{string.Join(",", c.RowShape)}]");
                if (partRows is { } pr && pr != e.Shape[0])
                    throw new UserInputException(
                        $"{h.Path}: tensors have different row counts ({pr} and {e.Shape[0]} in '{c.Name}')");
                partRows = e.Shape[0];
            }
            rows += partRows ?? 0;
        }

        var header = new JsonObject();
        if (metadata.Count > 0)
        {
            var m = new JsonObject();
            foreach (var k in metadata.Keys.Order(StringComparer.Ordinal)) m[k] = metadata[k];
            header["__metadata__"] = m;
        }
        long offset = 0;
        var ordered = columns.OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        foreach (var c in ordered)
        {
            long[] shape = [rows, .. c.RowShape];
            long bytes = checked(shape.Aggregate(1L, (a, b) => a * b) * ElementSize(c.DType));
            header[c.Name] = SafeTensors.EntryJson(c.DType, shape, offset, offset + bytes);
            offset += bytes;
        }
        AtomicFile.Write(outPath, s =>
        {
            SafeTensors.WriteHeader(s, header);
            var buffer = new byte[1 << 20];
            foreach (var c in ordered)
                foreach (var h in headers)
                {
                    var e = h.Entries[c.Name];
                    using var fs = File.OpenRead(h.Path);
                    fs.Seek(h.DataOffset + e.Begin, SeekOrigin.Begin);
                    long left = e.End - e.Begin;
                    while (left > 0)
                    {
                        int n = fs.Read(buffer, 0, (int)Math.Min(left, buffer.Length));
                        if (n <= 0) throw new UserInputException(
                            $"{h.Path}: file ended early while copying '{c.Name}'");
                        s.Write(buffer, 0, n);
                        left -= n;
                    }
                }
        });
        return rows;
    }

    static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" => 8,
        "F32" or "I32" => 4,
        "F16" or "BF16" or "I16" => 2,
        _ => 1,
    };

    /// <summary>
    /// <c>brainmclip merge-features</c>: concatenates the shards of one extraction in row order. The shards must come
    /// from the same checkpoint, source and settings and cover every row once; the result (data and metadata) is
    /// byte-identical to an unsharded run with the same batch size.
    /// </summary>
    public static (long Rows, int Shards) Merge(string outPath, IReadOnlyList<string> shards)
    {
        if (shards.Count == 0) throw new UserInputException("merge-features: give at least one shard file");
        var headers = shards.Select(SafeTensors.ReadHeader).ToList();
        foreach (var h in headers)
        {
            if (h.Metadata.GetValueOrDefault(Keys.FormatKey) != Format)
                throw new UserInputException(
                    $"{h.Path}: not a brainmclip feature file (metadata '{Keys.FormatKey}' is not '{Format}')");
            foreach (var k in new[] { Keys.Samples, Keys.TotalSamples, Keys.RowOffset, Keys.Shard })
                if (!h.Metadata.ContainsKey(k)) throw new UserInputException($"{h.Path}: metadata '{k}' missing");
        }
        var first = headers[0];
        foreach (var h in headers.Skip(1))
        {
            foreach (var k in first.Metadata.Keys.Union(h.Metadata.Keys))
            {
                if (ShardKeys.Contains(k)) continue;
                string a = first.Metadata.GetValueOrDefault(k) ?? "(absent)", b = h.Metadata.GetValueOrDefault(k)
                    ?? "(absent)";
                if (a != b)
                    throw new UserInputException(
                        $"{h.Path}: metadata '{k}' is '{b}' but {first.Path} has '{a}'; shards must come from one " +
                        $"extraction");
            }
        }
        long Long(SafeTensors.Header h, string k) =>
            long.TryParse(h.Metadata[k], out long v)
                && v >= 0 ? v : throw new UserInputException(
                $"{h.Path}: metadata '{k}' = '{h.Metadata[k]}' is not a row count");
        var sorted = headers.OrderBy(h => Long(h, Keys.RowOffset)).ToList();
        long total = Long(first, Keys.TotalSamples), next = 0;
        foreach (var h in sorted)
        {
            long off = Long(h, Keys.RowOffset);
            if (off != next)
                throw new UserInputException(off < next
                    ? $"{h.Path}: rows from {off} overlap the previous shard (ends at {next}); is a shard given twice?"
                    : $"rows {next}..{off - 1} are missing: no shard starts at row {next} (next shard {h.Path} " +
                        $"starts at {off})");
            next += Long(h, Keys.Samples);
        }
        if (next != total) throw new UserInputException(
            $"shards cover rows 0..{next - 1} of {total}; rows {next}..{total - 1} are missing");
        var meta = first.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        meta[Keys.Shard] = "0/1"; meta[Keys.RowOffset] = "0"; meta[Keys.Samples] = total.ToString();
        Concatenate(outPath, sorted.Select(h => h.Path).ToList(), ColumnsOf(first), meta);
        return (total, shards.Count);
    }
}
