using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// A training checkpoint (<see cref="TrainingLoop"/> writes them): a safetensors file with the model weights
/// (<c>model.*</c>), the serialised AdamW state (<c>optimizer</c>, bytes), the run's generator states
/// (<c>rng.NAME</c>), what the trainer adds (e.g. the brain trainer's best validation score) and metadata (epoch, step,
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

    /// <summary>The newest of <paramref name="last"/> and <paramref name="previous"/> that verifies; corrupt ones are
    /// reported and skipped.</summary>
    public static Checkpoint LoadLatestGood(string last, string previous, string what, TextWriter? log)
    {
        var problems = new List<string>();
        foreach (var path in new[] { last, previous })
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
        throw new UserInputException($"{what}: no usable checkpoint to resume from ({string.Join("; ", problems)})");
    }

    /// <summary>Copies <c>model.*</c> tensors of a checkpoint into the network, checking keys and shapes
    /// exactly.</summary>
    public static void LoadModel(nn.Module net, Checkpoint ck, string what) => LoadModule(net, ck, "model.", what);

    /// <summary>Copies the tensors under <paramref name="prefix"/> into <paramref name="module"/> (keys and shapes
    /// checked exactly).</summary>
    public static void LoadModule(nn.Module module, Checkpoint ck, string prefix, string what) =>
        StateDictLoader.Load(module, ck.Tensors, what,
            new StateDictOptions { Prefix = prefix, What = "the configuration" });

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
