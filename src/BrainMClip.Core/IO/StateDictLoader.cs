using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.IO;

/// <summary>How the keys of a weight source relate to a module's state dict.</summary>
public sealed record StateDictOptions
{
    /// <summary>Only source keys with this prefix are weights; the prefix is stripped (checkpoints:
    /// "model.").</summary>
    public string Prefix { get; init; } = "";
    /// <summary>Maps a source key (after the prefix) to a module key (legacy names); identity when null.</summary>
    public Func<string, string>? Rename { get; init; }
    /// <summary>Adjusts a source tensor before the shape check (e.g. 1×1-conv attention weights); may return
    /// it.</summary>
    public Func<string, Tensor, Tensor>? Reshape { get; init; }
    /// <summary>Module keys that may be absent from the source (BatchNorm's num_batches_tracked always may).</summary>
    public Func<string, bool>? Optional { get; init; }
    /// <summary>Source keys that are not module keys on purpose (e.g. a CLIP text tower) and are skipped.</summary>
    public Func<string, bool>? Ignored { get; init; }
    /// <summary>Report source keys the module does not use instead of failing on them.</summary>
    public bool AllowUnexpected { get; init; }
    /// <summary>When every source key starts with "module." (a DataParallel model's state dict), strip it.</summary>
    public bool StripDataParallelPrefix { get; init; }
    /// <summary>What the source must match, for the error message ("does not match {What}").</summary>
    public string What { get; init; } = "the model";
}

/// <summary>
/// The one strict loader of weights into a module: every module key must be present (unless optional) with exactly
/// the module's shape and a floating dtype where the module's is floating, and no source key may be left over
/// (unless ignored or allowed); all problems are listed, each naming its key. Values are cast to the module's dtype.
/// Safetensors files are streamed: their headers are checked first, then tensors are read one at a time, so a large
/// checkpoint never sits in memory whole. PyTorch checkpoints (.bin, .pth) are unpickled whole first.
/// </summary>
public static class StateDictLoader
{
    public sealed record LoadReport(int Loaded, IReadOnlyList<string> SkippedOptional,
        IReadOnlyList<string> Unexpected);

    sealed record Source(string Key, string Origin, long[] Shape, bool Floating, string DType, Func<Tensor> Read);

    /// <summary>
    /// Loads weight file(s) (one checkpoint, possibly sharded) into <paramref name="module"/>: safetensors, or
    /// PyTorch zip checkpoints (<see cref="TorchCheckpoint"/>), told apart by their first bytes. Both give the same
    /// tensors: a file's values cast to the module's dtype.
    /// </summary>
    public static LoadReport LoadFiles(nn.Module module, IReadOnlyList<string> paths, StateDictOptions? options = null)
    {
        options ??= new StateDictOptions();
        var entries = new List<Source>();
        var owned = new List<Tensor>();
        try
        {
            foreach (var path in paths)
            {
                if (TorchCheckpoint.Kind(path) == WeightFileKind.SafeTensors)
                {
                    foreach (var (key, e) in SafeTensors.ReadHeader(path).Entries)
                        entries.Add(new Source(key, path, e.Shape, e.DType is "F32" or "F16" or "BF16" or "F64",
                            e.DType, () => SafeTensors.LoadTensor(path, key)));
                    continue;
                }
                var tensors = TorchCheckpoint.ReadStateDict(path);
                owned.AddRange(tensors.Values);
                entries.AddRange(tensors.Select(kv => new Source(kv.Key, path, kv.Value.shape,
                    kv.Value.is_floating_point(), kv.Value.dtype.ToString(), () => kv.Value)));
            }
            if (options.StripDataParallelPrefix
                && entries.All(e => e.Key.StartsWith("module." + options.Prefix, StringComparison.Ordinal)))
                options = options with { Prefix = "module." + options.Prefix };
            string where = paths.Count == 1 ? paths[0] : Path.GetDirectoryName(paths[0]) + " (sharded checkpoint)";
            return Load(module, entries, where, options);
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    /// <summary>
    /// Loads a torchvision-style file: absent optional keys are skipped, extra keys are reported, and a "module."
    /// prefix on every key (saved from DataParallel, as torch hub's .pth.tar files often are) is stripped.
    /// </summary>
    public static LoadReport LoadFile(nn.Module module, string path, Func<string, bool> optional) =>
        LoadFiles(module, [path],
            new StateDictOptions { Optional = optional, AllowUnexpected = true, StripDataParallelPrefix = true });

    /// <summary>Loads tensors already in memory (e.g. a training checkpoint); they are copied, not disposed.</summary>
    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string sourceName,
        StateDictOptions? options = null) =>
        Load(module, tensors.Select(kv => new Source(kv.Key, sourceName, kv.Value.shape, kv.Value.is_floating_point(),
            kv.Value.dtype.ToString(), () => kv.Value)).ToList(), sourceName, options ?? new());

    static LoadReport Load(nn.Module module, List<Source> entries, string where, StateDictOptions o)
    {
        var source = MapKeys(entries, o);
        var target = module.state_dict();
        var problems = new List<string>();
        var skipped = new List<string>();
        foreach (var (key, dst) in target)
        {
            if (!source.TryGetValue(key, out var s))
            {
                if (o.Optional?.Invoke(key) == true || key.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
                    skipped.Add(key);
                else problems.Add($"missing key '{key}' (expected shape [{Shape(dst.shape)}])");
            }
            else if (o.Reshape is null && !s.Shape.SequenceEqual(dst.shape))
                problems.Add(
                    $"key '{key}' has shape [{Shape(s.Shape)}] in the file but the config needs [{Shape(dst.shape)}]");
            else if (dst.is_floating_point() && !s.Floating)
                problems.Add($"key '{key}' has dtype {s.DType}; expected a floating type");
        }
        var unexpected = source.Where(kv => !target.ContainsKey(kv.Key) && o.Ignored?.Invoke(kv.Value.Key) != true)
            .Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (!o.AllowUnexpected)
            problems.AddRange(unexpected.Select(k => $"unexpected key '{k}' [{Shape(source[k].Shape)}]"));
        if (problems.Count > 0)
        {
            string hint = entries.Any(e => e.Key.StartsWith("module.", StringComparison.Ordinal))
                ? " (keys start with 'module.': strip that prefix when converting, see docs/metrics-weights.md)" : "";
            throw new UserInputException(
                $"{where}: does not match {o.What} ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}): " +
                string.Join("; ", problems.Take(10)) + (problems.Count > 10 ? "; ..." : "") + hint);
        }
        int loaded = 0;
        using var _ = no_grad();
        foreach (var (key, dst) in target)
        {
            if (!source.TryGetValue(key, out var s)) continue;
            using var scope = NewDisposeScope();
            var t = s.Read();
            var adjusted = o.Reshape?.Invoke(key, t) ?? t;
            if (!adjusted.shape.SequenceEqual(dst.shape))
                throw new UserInputException(
                    $"{where}: key '{key}' has shape [{Shape(t.shape)}] in the file but the config needs " +
                        $"[{Shape(dst.shape)}]");
            dst.copy_(adjusted.to(dst.dtype, dst.device));
            loaded++;
        }
        return new LoadReport(loaded, skipped, unexpected);
    }

    /// <summary>Module key → source entry: prefix filtered and stripped, renamed; two entries for one key
    /// fail.</summary>
    static Dictionary<string, Source> MapKeys(List<Source> entries, StateDictOptions o)
    {
        var map = new Dictionary<string, Source>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (!e.Key.StartsWith(o.Prefix, StringComparison.Ordinal)) continue;
            string stripped = e.Key[o.Prefix.Length..];
            string key = o.Rename?.Invoke(stripped) ?? stripped;
            if (map.TryGetValue(key, out var other))
                throw new UserInputException(other.Key == e.Key
                    ? $"{e.Origin}: key '{e.Key}' also appears in {other.Origin}"
                    : $"{e.Origin}: keys '{other.Key}' and '{e.Key}' both map to '{key}'");
            map[key] = e;
        }
        return map;
    }

    static string Shape(IEnumerable<long> s) => string.Join(",", s);
}
