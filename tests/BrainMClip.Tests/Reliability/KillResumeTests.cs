using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Crash safety of long commands: the real CLI is SIGKILLed at seeded random moments and rerun with --resume; the
/// final output must be byte-identical to an uninterrupted run, and no file under a final name may ever be partial.
/// </summary>
[Trait("Category", "Reliability")]
[Collection("Console")]
public class KillResumeTests(ITestOutputHelper log)
{
    /// <summary>A tiny CLIP checkpoint and a stimulus array: 30 images in batches of 3 = 10 batch files.</summary>
    static (string Clip, string Stimuli) FeaturesSetup(string root)
    {
        string clip = Path.Combine(root, "clip");
        BrainMClip.Features.ClipCheckpointFactory.CreateRandom(clip,
            BrainMClip.Features.ClipVisionConfig.Preset("tiny"), seed: 3);
        string stim = Path.Combine(root, "stim.npy");
        var px = new byte[30 * 16 * 16 * 3];
        new Random(5).NextBytes(px);
        Npy.Write(stim, NpyDType.UInt8, [30, 16, 16, 3], px);
        return (clip, stim);
    }

    [Theory]
    [InlineData(1)]
    public void FeaturesKilledAndResumedIsByteIdentical(int seed)
    {
        using var dir = new TempDir();
        var (clip, stim) = FeaturesSetup(dir.Path);
        string reference = Path.Combine(dir.Path, "ref.safetensors");
        string[] common = ["features", "--clip", clip, "--input", stim, "--batch", "3", "--hidden-states", "6"];
        // The uninterrupted run as a child too: the same thread count as the killed attempts, so the same kernels
        // (MKL's AVX2 path blocks by thread count; in-process with 2 threads it differed in the last bit).
        var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(3), [.. common, "--out", reference]);
        Assert.True(code == 0, err);
        byte[] expected = File.ReadAllBytes(reference);

        string outDir = Path.Combine(dir.Path, "run");
        Directory.CreateDirectory(outDir);
        string output = Path.Combine(outDir, "feat.safetensors"), partial = output + ".partial";
        int Batches() => Directory.Exists(partial) ? Directory.EnumerateFiles(partial, "batch-*.safetensors")
            .Count() : 0;
        void Invariants()
        {
            // Final name: absent or complete. Batch files under final names: complete and loadable.
            if (File.Exists(output)) Assert.Equal(expected, File.ReadAllBytes(output));
            foreach (var f in Directory.EnumerateFileSystemEntries(outDir))
            {
                string name = Path.GetFileName(f);
                Assert.True(name == "feat.safetensors" || name == "feat.safetensors.partial"
                    || (name.StartsWith('.') && name.EndsWith(".tmp")), $"unexpected file {name}");
            }
            if (!Directory.Exists(partial)) return;
            foreach (var f in Directory.EnumerateFiles(partial))
            {
                string name = Path.GetFileName(f);
                // temp files are allowed, never under a final name
                if (name.StartsWith('.') && name.EndsWith(".tmp")) continue;
                if (name == "job.json")
                { System.Text.Json.JsonDocument.Parse(File.ReadAllText(f)).Dispose(); continue; }
                Assert.Matches(@"^batch-\d{7}\.safetensors$", name);
                using var scope = NewDisposeScope();
                var t = SafeTensors.Load(f);
                Assert.Equal(3, t["detail"].shape[0]);
            }
        }

        int killed = KillResume.Run([.. common, "--out", output], kills: 3, seed, Batches, total: 10, Invariants, log);
        Assert.True(killed >= 1, "no attempt was killed mid-run");
        Assert.Equal(expected, File.ReadAllBytes(output));
        Assert.False(Directory.Exists(partial));
        Assert.Empty(Directory.EnumerateFiles(outDir, ".*.tmp"));
        log.WriteLine($"features: {killed} kills, resumed output byte-identical ({expected.Length} bytes)");
    }

    /// <summary>Every rec_*.png the same image and the manifest's settings and per-image entries equal. A resumed
    /// run starts its calls at the first missing image, so its calls hold other row counts than the reference's:
    /// within one grey level (Float32Reorder), bit-identical where the blocking does not depend on the row count.
    /// </summary>
    static void AssertSameReconstructions(string expected, string actual)
    {
        var names = Directory.GetFiles(expected, "rec_*.png").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(names, Directory.GetFiles(actual, "rec_*.png").Select(Path.GetFileName).Order().ToArray());
        foreach (var n in names) Float32Reorder.AssertPngsClose(Path.Combine(expected, n!), Path.Combine(actual, n!));
        var a = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(expected, "reconstruct.json")))!;
        var b = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(actual, "reconstruct.json")))!;
        Assert.Equal(a["images"]!.ToJsonString(), b["images"]!.ToJsonString()); // seeds, chosen candidates
    }

    [Fact]
    public void ReconstructKilledAndResumedGivesTheSameImages()
    {
        using var dir = new TempDir();
        // Generator: the golden tiny VD-style unet/vae/ddim; predictions: 8 samples of 5 tokens x 32.
        string gen = Path.Combine(dir.Path, "gen");
        foreach (var sub in new[] { "unet", "vae", "ddim" })
        {
            Directory.CreateDirectory(Path.Combine(gen, sub));
            foreach (var f in Directory.GetFiles(TestPaths.Golden(Path.Combine("diffusion-tiny", sub))))
                if (!f.EndsWith("golden.safetensors")) File.Copy(f, Path.Combine(gen, sub, Path.GetFileName(f)));
        }
        string pred = Path.Combine(dir.Path, "pred.safetensors");
        using (var scope = NewDisposeScope())
        {
            var g = new Generator(3);
            var sem = randn([8, 5, 32], generator: g);
            var dp = randn([8, 5, 32], generator: g);
            SafeTensors.Save(pred, new Dictionary<string, Tensor>
            {
                ["semantic"] = sem,
                ["detail_projected"] = dp,
                ["detail"] = randn([8, 5, 8], generator: g),
                ["fused"] = BrainMClip.Model.Conditioning.Fuse(sem, dp, 0.25),
            });
        }
        string[] Args(string outDir) =>
            ["reconstruct", "--pred", pred, "--generator", gen, "--out", outDir, "--steps", "6", "--guidance", "2",
            "--seed", "5"];
        string reference = Path.Combine(dir.Path, "ref");
        var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(3), Args(reference));
        Assert.True(code == 0, err);

        string output = Path.Combine(dir.Path, "recon");
        int Images() => Directory.Exists(output) ? Directory.EnumerateFiles(output, "rec_*.png").Count() : 0;
        void Invariants()
        {
            if (!Directory.Exists(output)) return;
            foreach (var f in Directory.EnumerateFiles(output))
            {
                string name = Path.GetFileName(f);
                if (name.StartsWith('.') && name.EndsWith(".tmp")) continue;
                // complete and right
                if (name.EndsWith(".png")) Float32Reorder.AssertPngsClose(Path.Combine(reference, name), f);
                else if (name == "reconstruct.json") System.Text.Json.JsonDocument.Parse(File.ReadAllText(f)).Dispose();
                else Assert.Fail($"unexpected file {name}");
            }
        }
        int killed = KillResume.Run(Args(output), kills: 3, seed: 7, Images, total: 8, Invariants, log);
        Assert.True(killed >= 1, "no attempt was killed mid-run");
        AssertSameReconstructions(reference, output);
        Assert.Empty(Directory.EnumerateFiles(output, ".*.tmp"));
        log.WriteLine($"reconstruct: {killed} kills, resumed images within one grey level");
    }

    [Fact]
    public void GeneratorTrainKilledAndResumedIsByteIdentical()
    {
        using var dir = new TempDir();
        var (images, features) = BrainMClip.Tests.Generation.GeneratorResumeTests.Inputs(dir.Path);
        string[] Args(string outDir) =>
            ["generator", "train", "--images", images, "--features", features, "--out", outDir, "--steps", "24",
            "--checkpoint-every", "3", "--batch", "2", "--channels", "8,8,8", "--seed", "6", "--threads", "1"];
        string reference = Path.Combine(dir.Path, "ref");
        var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(3), Args(reference));
        Assert.True(code == 0, err);
        string unet = Path.Combine("unet", "diffusion_pytorch_model.safetensors");
        byte[] expected = File.ReadAllBytes(Path.Combine(reference, unet));

        string output = Path.Combine(dir.Path, "gen");
        string metrics = Path.Combine(output, "metrics.jsonl");
        int Checkpoints() => File.Exists(metrics) ? File.ReadAllLines(metrics).Length : 0;
        void Invariants()
        {
            // Checkpoints under final names are complete and verify; so is metrics.jsonl.
            foreach (var name in new[] { "last.ckpt", "prev.ckpt" })
            {
                string path = Path.Combine(output, "train-state", name);
                if (!File.Exists(path)) continue;
                using var ck = BrainMClip.Optimization.Checkpoint.TryLoad(path, out var problem);
                Assert.True(ck is not null, $"{name}: {problem}");
            }
            if (File.Exists(metrics)) BrainMClip.Optimization.MetricsLog.Read(metrics);
        }
        int killed = KillResume.Run(Args(output), kills: 3, seed: 2, Checkpoints, total: 8, Invariants, log);
        Assert.True(killed >= 1, "no attempt was killed mid-run");
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(output, unet)));
        Assert.Equal(8, Checkpoints());
        log.WriteLine($"generator train: {killed} kills, resumed weights byte-identical ({expected.Length} bytes)");
    }
}
