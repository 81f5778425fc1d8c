using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.Tests.Cli;
using BrainMClip.Tests.Reliability;
using Xunit;

namespace BrainMClip.Tests.Training;

/// <summary>
/// The brain trainer's outputs for a frozen preset must not move (a pre-registered replication runs on them): a small
/// synthetic subject through synth, clip-init, features, <c>train --config tiny</c> (2 epochs, 1 thread) and predict
/// gives checkpoint and prediction tensors whose digests were recorded with the code before the shared training loop
/// (commit 1c72768's CLI, the same commands; digest = SHA-256 over the sorted tensor names, each followed by a zero
/// byte and its raw data, so the optimiser state and the generators' states count, the wall-clock metadata does
/// not).
/// <para>
/// Every step runs as a child process in LibTorch's CPU-independent mode (<see cref="Pinned"/>): MKL's conditional
/// numerical reproducibility (<c>MKL_CBWR=COMPATIBLE</c>), ATen's baseline kernels and oneDNN capped at SSE4.1. By
/// default MKL picks its blocking per CPU (an AMD EPYC got other bits than the Intel Xeon the digests were first taken
/// on), so a digest pinned in the default mode holds on one vendor only. In the pinned mode 1c72768 and this code give
/// the same digests, and on the recording machine they do not change when MKL is held to AVX2 and .NET to 256-bit
/// vectors (the second run below), which is how another vendor's kernels would differ. Same operations in the same
/// order in the pinned mode means the same operations in the default mode, so the replication's presets did not
/// move either.
/// </para>
/// </summary>
public class FrozenOutputsTests
{
    const string LastCheckpoint = "b428a960fd548590ee5530ea6933f9f1ae979abbf63b26f535266c9ebcfd873a";
    const string Predictions = "22f9e9df5f6021e61209fbc76859e38cfd62787bee69b5d813914423aec775dd";

    /// <summary>LibTorch's kernels made independent of the CPU (docs/reliability.md, "Bitwise across CPUs").</summary>
    static readonly Dictionary<string, string> Pinned = new()
    {
        ["MKL_CBWR"] = "COMPATIBLE",
        ["ATEN_CPU_CAPABILITY"] = "default",
        ["ONEDNN_MAX_CPU_ISA"] = "SSE41",
    };

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

    /// <summary>The five commands in one directory; returns the checkpoint's and the predictions' digests.</summary>
    static (string Checkpoint, string Predictions) Digests(string root, IReadOnlyDictionary<string, string> env)
    {
        string P(string name) => Path.Combine(root, name);
        void Run(params string[] args)
        {
            var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(5), env, args);
            Assert.True(code == 0, $"{string.Join(' ', args)}: exit {code}\n{err}");
        }
        Directory.CreateDirectory(root);
        Run("synth", "--out", P("data"), "--seed", "5", "--train", "80", "--test", "12");
        Run("clip-init", "--out", P("clip"), "--preset", "tiny", "--seed", "1");
        string stimuli = Path.Combine(P("data"), "processed_data", "subj01", "nsd_train_stim_sub1.npy");
        Run("features", "--clip", P("clip"), "--input", stimuli, "--out", P("ft.safetensors"));
        File.WriteAllText(P("cfg.json"), """{"base":"tiny","training":{"epochs":2}}""");
        Run("train", "--data", P("data"), "--features", P("ft.safetensors"), "--config", P("cfg.json"), "--out",
            P("run"), "--threads", "1");
        Run("predict", "--run", P("run"), "--data", P("data"), "--out", P("pred.safetensors"));
        return (TensorDigest(Path.Combine(P("run"), "checkpoints", "last.ckpt")), TensorDigest(P("pred.safetensors")));
    }

    [Fact]
    public void TinyPresetTrainingAndPredictionAreByteIdenticalToThePreLoopCode()
    {
        using var dir = new TempDir();
        var pinned = Digests(Path.Combine(dir.Path, "pinned"), Pinned);
        Assert.Equal(LastCheckpoint, pinned.Checkpoint);
        Assert.Equal(Predictions, pinned.Predictions);
        // Other instruction sets on this machine must not move the pinned digests (else the pin is not a pin).
        var narrower = Digests(Path.Combine(dir.Path, "avx2"), new Dictionary<string, string>(Pinned)
        {
            ["MKL_ENABLE_INSTRUCTIONS"] = "AVX2",
            ["DOTNET_EnableAVX512F"] = "0",
        });
        Assert.Equal(pinned, narrower);
    }
}
