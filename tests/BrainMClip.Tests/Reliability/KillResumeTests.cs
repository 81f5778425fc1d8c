using BrainMClip.IO;
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
        BrainMClip.Features.ClipCheckpointFactory.CreateRandom(clip, BrainMClip.Features.ClipVisionConfig.Preset("tiny"), seed: 3);
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
        // The uninterrupted run in-process (same code as the child; saves a process start on a 2-core CI machine).
        var (code, _, err) = BrainMClip.Tests.Data.CliRunner.Run([.. common, "--out", reference]);
        Assert.True(code == 0, err);
        byte[] expected = File.ReadAllBytes(reference);

        string outDir = Path.Combine(dir.Path, "run");
        Directory.CreateDirectory(outDir);
        string output = Path.Combine(outDir, "feat.safetensors"), partial = output + ".partial";
        int Batches() => Directory.Exists(partial) ? Directory.EnumerateFiles(partial, "batch-*.safetensors").Count() : 0;
        void Invariants()
        {
            // Final name: absent or complete. Batch files under final names: complete and loadable.
            if (File.Exists(output)) Assert.Equal(expected, File.ReadAllBytes(output));
            foreach (var f in Directory.EnumerateFileSystemEntries(outDir))
            {
                string name = Path.GetFileName(f);
                Assert.True(name == "feat.safetensors" || name == "feat.safetensors.partial" || (name.StartsWith('.') && name.EndsWith(".tmp")), $"unexpected file {name}");
            }
            if (!Directory.Exists(partial)) return;
            foreach (var f in Directory.EnumerateFiles(partial))
            {
                string name = Path.GetFileName(f);
                if (name.StartsWith('.') && name.EndsWith(".tmp")) continue; // temp files are allowed, never under a final name
                if (name == "job.json") { System.Text.Json.JsonDocument.Parse(File.ReadAllText(f)).Dispose(); continue; }
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
}
