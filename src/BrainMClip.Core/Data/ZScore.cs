using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Data;

/// <summary>
/// Per-voxel z-scoring with training statistics (docs/data.md): mean and std with ddof=1 over the training rows.
/// A voxel with std 0 (or too few rows for a std) keeps std 1 so it maps to 0 instead of NaN.
/// The statistics are saved with the model and re-applied to test data.
/// </summary>
public sealed class ZScore : IDisposable
{
    /// <summary>float32 (V).</summary>
    public Tensor Mean { get; }
    /// <summary>float32 (V), never 0.</summary>
    public Tensor Std { get; }
    public long Voxels => Mean.shape[0];

    ZScore(Tensor mean, Tensor std) { Mean = mean; Std = std; }

    /// <summary>Fits on a (N, V) training matrix. Statistics are computed in float64 and stored as float32.</summary>
    public static ZScore Fit(Tensor train)
    {
        if (train.dim() != 2) throw new ArgumentException(
            $"expected a (samples, voxels) matrix, got shape [{string.Join(",", train.shape)}]");
        using var scope = NewDisposeScope();
        var x = train.to_type(ScalarType.Float64);
        var mean = x.mean([0]);
        Tensor std = train.shape[0] >= 2 ? x.std(0, unbiased: true) : ones_like(mean);
        std = where(std.isfinite().logical_and(std.gt(0)), std, ones_like(std));
        return new ZScore(mean.to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
                          std.to_type(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>(x − mean) / std for a (N, V) matrix, float32.</summary>
    public Tensor Apply(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != Voxels)
            throw new UserInputException(
                $"z-score statistics are for {Voxels} voxels but the data has shape [{string.Join(",", x.shape)}]");
        using var scope = NewDisposeScope();
        var r = x.to_type(ScalarType.Float32).sub(Mean).div(Std);
        return r.MoveToOuterDisposeScope();
    }

    static string Key(string prefix, string name) => prefix.Length == 0 ? name : $"{prefix}.{name}";

    /// <summary>The statistics as tensors named "{prefix}.mean" and "{prefix}.std", e.g. to put in a
    /// checkpoint.</summary>
    public Dictionary<string, Tensor> ToTensors(string prefix) =>
        new() { [Key(prefix, "mean")] = Mean, [Key(prefix, "std")] = Std };

    public static ZScore FromTensors(IReadOnlyDictionary<string, Tensor> tensors, string prefix,
        string source = "tensors")
    {
        string km = Key(prefix, "mean"), ks = Key(prefix, "std");
        if (!tensors.TryGetValue(km, out var mean) || !tensors.TryGetValue(ks, out var std))
            throw new UserInputException($"{source}: z-score statistics '{km}'/'{ks}' not found");
        if (mean.dim() != 1 || std.dim() != 1 || mean.shape[0] != std.shape[0])
            throw new UserInputException(
                $"{source}: '{km}' and '{ks}' must be vectors of equal length (got [{string.Join(",", mean.shape)}] " +
                $"and [{string.Join(",", std.shape)}])");
        if (std.le(0).any().item<bool>() || !std.isfinite().all().item<bool>())
            throw new UserInputException($"{source}: '{ks}' holds non-positive or non-finite values");
        return new ZScore(mean.to_type(ScalarType.Float32).clone(), std.to_type(ScalarType.Float32).clone());
    }

    /// <summary>
    /// Saves into a safetensors file under "{prefix}.mean"/"{prefix}.std". Tensors already in the file under other
    /// names are kept, so several streams' statistics can share one file.
    /// </summary>
    public void Save(string path, string prefix)
    {
        var loaded = new Dictionary<string, Tensor>();
        var metadata = new Dictionary<string, string>();
        if (File.Exists(path))
        {
            loaded = SafeTensors.Load(path, out var meta);
            metadata = meta.ToDictionary();
        }
        try
        {
            var all = new Dictionary<string, Tensor>(loaded);
            foreach (var (k, v) in ToTensors(prefix)) all[k] = v;
            metadata["zscore"] = "mean and std (ddof=1) of the training split; std 0 replaced by 1";
            SafeTensors.Save(path, all, metadata);
        }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }

    public static ZScore Load(string path, string prefix)
    {
        var tensors = SafeTensors.Load(path);
        try { return FromTensors(tensors, prefix, path); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    public void Dispose() { Mean.Dispose(); Std.Dispose(); }
}
