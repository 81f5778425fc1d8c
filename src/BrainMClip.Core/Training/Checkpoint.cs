using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// A training checkpoint: a safetensors file with the model weights (<c>model.*</c>), the serialised AdamW state
/// (<c>optimizer</c>, bytes), the RNG states (<c>rng.dropout</c>: the run's dropout generator;
/// <c>rng.shuffle</c>: the batch-order generator) and metadata (epoch, step, scheduler steps, best validation score,
/// metrics history) plus a SHA-256 over all tensor bytes and metadata so corruption is detected on load.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string FormatVersion = "brainmclip-ckpt-1";

    public required Dictionary<string, Tensor> Tensors { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }

    public int Epoch => int.Parse(Metadata["epoch"]);
    public long Step => long.Parse(Metadata["step"]);

    public void Save(string path)
    {
        var meta = new Dictionary<string, string>(Metadata, StringComparer.Ordinal) { ["format"] = FormatVersion };
        meta.Remove("sha256");
        meta["sha256"] = Digest(Tensors, meta);
        SafeTensors.Save(path, Tensors, meta);
    }

    /// <summary>Loads and verifies a checkpoint; returns null (with <paramref name="problem"/>) if missing or
    /// corrupt.</summary>
    public static Checkpoint? TryLoad(string path, out string? problem)
    {
        problem = null;
        if (!File.Exists(path)) { problem = "missing"; return null; }
        Dictionary<string, Tensor> tensors;
        IReadOnlyDictionary<string, string> meta;
        try { tensors = SafeTensors.Load(path, out meta); }
        catch (Exception e) when (e is UserInputException or IOException or EndOfStreamException)
        {
            problem = $"unreadable ({e.Message})";
            return null;
        }
        var m = new Dictionary<string, string>(meta, StringComparer.Ordinal);
        if (!m.TryGetValue("format", out var fmt) || fmt != FormatVersion || !m.TryGetValue("sha256", out var stored))
        {
            problem = "not a BrainMClip checkpoint (format/sha256 metadata missing)";
            foreach (var t in tensors.Values) t.Dispose();
            return null;
        }
        m.Remove("sha256");
        var actual = Digest(tensors, m);
        if (!string.Equals(actual, stored, StringComparison.OrdinalIgnoreCase))
        {
            problem = $"checksum mismatch (stored {stored[..12]}…, computed {actual[..12]}…): the file is corrupted";
            foreach (var t in tensors.Values) t.Dispose();
            return null;
        }
        m["sha256"] = stored;
        return new Checkpoint { Tensors = tensors, Metadata = m };
    }

    /// <summary>SHA-256 over sorted metadata and every tensor's name, dtype, shape and bytes (sorted by
    /// name).</summary>
    static string Digest(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> meta)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (k, v) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sha.AppendData(Encoding.UTF8.GetBytes($"{k}\0{v}\0"));
        foreach (var name in tensors.Keys.OrderBy(k => k, StringComparer.Ordinal))
        {
            using var t = tensors[name].detach().cpu().contiguous();
            sha.AppendData(Encoding.UTF8.GetBytes($"{name}\0{t.dtype}\0{string.Join(",", t.shape)}\0"));
            long bytes = TensorMemory.ByteCount(t);
            unsafe
            {
                byte* p = TensorMemory.Pointer(t);
                while (bytes > 0)
                {
                    int n = (int)Math.Min(bytes, 1 << 30);
                    sha.AppendData(new ReadOnlySpan<byte>(p, n));
                    p += n; bytes -= n;
                }
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    const string OptimizerKey = "optimizer", DropoutRngKey = "rng.dropout", ShuffleRngKey = "rng.shuffle";
    const string LinearCosinesKey = "val.linear_cosines";

    /// <summary>The newest checkpoint that verifies (last, then prev); corrupt ones are reported and skipped.</summary>
    public static Checkpoint LoadLatestGood(RunFolder run, TextWriter? log)
    {
        var problems = new List<string>();
        foreach (var path in new[] { run.LastCheckpoint, run.PreviousCheckpoint })
        {
            var ck = TryLoad(path, out var problem);
            if (ck is not null)
            {
                if (problems.Count > 0)
                    log?.WriteLine($"warning: {string.Join("; ", problems)}; using {path} (epoch {ck.Epoch})");
                return ck;
            }
            problems.Add($"{path}: {problem}");
        }
        throw new UserInputException(
            $"{run.Root}: no usable checkpoint to resume from ({string.Join("; ", problems)})");
    }

    /// <summary>Copies <c>model.*</c> tensors of a checkpoint into the network, checking keys and shapes
    /// exactly.</summary>
    public static void LoadModel(nn.Module net, Checkpoint ck, string what) =>
        StateDictLoader.Load(net, ck.Tensors, what,
            new StateDictOptions { Prefix = "model.", What = "the configuration" });

    /// <summary>
    /// The complete training state after <paramref name="epoch"/> epochs: weights, optimiser, both generators, the
    /// best score so far, the metrics history and (with a competing linear path) its validation cosines.
    /// </summary>
    public static Checkpoint FromTraining(BrainMClipNet net, OptimizerHelper optimizer, Generator dropout,
        Generator shuffle, int epoch, long step, double bestVal, int bestEpoch, List<JsonObject> metrics,
        BrainMClipConfig cfg, Tensor? linearCosines)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        // CPU copies: a checkpoint is the same file whichever device trained it.
        foreach (var (k, v) in net.state_dict()) tensors["model." + k] = v.detach().cpu().clone();
        if (linearCosines is not null) tensors[LinearCosinesKey] = linearCosines.clone();
        using (var ms = new MemoryStream())
        {
            using (var bw = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(bw);
            tensors[OptimizerKey] = BytesTensor(ms.ToArray());
        }
        tensors[DropoutRngKey] = dropout.get_state();
        tensors[ShuffleRngKey] = shuffle.get_state();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["scheduler_steps"] = step.ToString(CultureInfo.InvariantCulture),
            ["best_val"] = bestVal.ToString("R", CultureInfo.InvariantCulture),
            ["best_epoch"] = bestEpoch.ToString(CultureInfo.InvariantCulture),
            // Generator seeds: initialisation seed, shuffle seed+1, dropout seed+2, validation split seed+7919.
            ["seed"] = cfg.Training.Seed.ToString(CultureInfo.InvariantCulture),
            ["voxels_detail"] = net.VoxelsDetail.ToString(CultureInfo.InvariantCulture),
            ["voxels_semantic"] = net.VoxelsSemantic.ToString(CultureInfo.InvariantCulture),
            ["config"] = cfg.ToJson(),
            ["metrics"] = string.Join("\n", metrics.Select(m => m.ToJsonString())),
        };
        return new Checkpoint { Tensors = tensors, Metadata = meta };
    }

    /// <summary>Restores the optimiser state and both generators written by <see cref="FromTraining"/>.</summary>
    public void RestoreTraining(OptimizerHelper optimizer, Generator dropout, Generator shuffle)
    {
        using (var ms = new MemoryStream(TensorBytes(Tensors[OptimizerKey])))
        using (var br = new BinaryReader(ms)) optimizer.load_state_dict(br);
        dropout.set_state(Tensors[DropoutRngKey]);
        shuffle.set_state(Tensors[ShuffleRngKey]);
    }

    public double BestValidation => double.Parse(Metadata["best_val"], CultureInfo.InvariantCulture);
    public int BestEpoch => int.Parse(Metadata["best_epoch"], CultureInfo.InvariantCulture);

    /// <summary>A copy of the linear path's validation cosines, if the run saved them.</summary>
    public Tensor? CloneLinearCosines() => Tensors.TryGetValue(LinearCosinesKey, out var lc) ? lc.clone() : null;

    /// <summary>The metrics history (one JSON object per completed epoch).</summary>
    public IEnumerable<JsonObject> MetricsHistory() =>
        Metadata["metrics"].Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => (JsonObject)JsonNode.Parse(l)!);

    /// <summary>Bytes → U8 tensor (for the optimizer state blob).</summary>
    public static Tensor BytesTensor(byte[] bytes) => tensor(bytes, dtype: ScalarType.Byte);

    public static byte[] TensorBytes(Tensor t) => t.to_type(ScalarType.Byte).data<byte>().ToArray();

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
