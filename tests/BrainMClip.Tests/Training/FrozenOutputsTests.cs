using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Training;

/// <summary>
/// The brain trainer's outputs for a frozen preset must not move (a pre-registered replication runs on them): a small
/// synthetic subject through synth, clip-init, features, <c>train --config tiny</c> (2 epochs, 1 thread) and predict
/// gives checkpoint and prediction tensors whose digests were recorded with the code before the shared training loop
/// (commit 1c72768's CLI, the same commands; digest = SHA-256 over the sorted tensor names, each followed by a zero
/// byte and its raw data, so the optimiser state and the generators' states count, the wall-clock metadata does
/// not).
/// </summary>
[Collection("Console")]
public class FrozenOutputsTests
{
    const string LastCheckpoint = "441805ab2adccd2c615a3a4fd9709d49f8dededaa0973b9f72b1d9bb831c0770";
    const string Predictions = "6932bc5247d9efb831657c77409bbf70e42a99fd2be14a63fafbb25c3c6c2a02";

    /// <summary>The tensor digest described above, read from the file's bytes.</summary>
    static string TensorDigest(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in header.Select(kv => kv.Key).Where(k => k != "__metadata__").Order(StringComparer.Ordinal))
        {
            var offsets = header[name]!["data_offsets"]!.AsArray();
            long a = offsets[0]!.GetValue<long>(), b = offsets[1]!.GetValue<long>();
            sha.AppendData(Encoding.UTF8.GetBytes(name + "\0"));
            sha.AppendData(bytes, (int)(8 + n + a), (int)(b - a));
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    static void Run(params string[] args)
    {
        var (code, _, err) = CliRunner.Run(args);
        Assert.True(code == 0, $"{string.Join(' ', args)}: exit {code}\n{err}");
    }

    [Fact]
    public void TinyPresetTrainingAndPredictionAreByteIdenticalToThePreLoopCode()
    {
        using var dir = new TempDir();
        string P(string name) => Path.Combine(dir.Path, name);
        Run("synth", "--out", P("data"), "--seed", "5", "--train", "80", "--test", "12");
        Run("clip-init", "--out", P("clip"), "--preset", "tiny", "--seed", "1");
        string stimuli = Path.Combine(P("data"), "processed_data", "subj01", "nsd_train_stim_sub1.npy");
        Run("features", "--clip", P("clip"), "--input", stimuli, "--out", P("ft.safetensors"));
        File.WriteAllText(P("cfg.json"), """{"base":"tiny","training":{"epochs":2}}""");
        int threads = TorchSharp.torch.get_num_threads();
        try
        {
            Run("train", "--data", P("data"), "--features", P("ft.safetensors"), "--config", P("cfg.json"), "--out",
                P("run"), "--threads", "1");
        }
        finally { TorchSharp.torch.set_num_threads(threads); }
        Run("predict", "--run", P("run"), "--data", P("data"), "--out", P("pred.safetensors"));
        Assert.Equal(LastCheckpoint, TensorDigest(Path.Combine(P("run"), "checkpoints", "last.ckpt")));
        Assert.Equal(Predictions, TensorDigest(P("pred.safetensors")));
    }
}
