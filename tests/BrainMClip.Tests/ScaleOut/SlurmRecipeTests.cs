using System.Diagnostics;
using BrainMClip.Features;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.ScaleOut;

public class ShardTests
{
    [Fact]
    public void ShardRangesTileTheWorkExactly()
    {
        for (int total = 0; total <= 40; total++)
            for (int n = 1; n <= 7; n++)
            {
                var covered = Enumerable.Range(0, n).SelectMany(i =>
                {
                    var (a, b) = new Shard(i, n).Range(total);
                    Assert.InRange(b - a, total / n, total / n + 1); // balanced blocks
                    return Enumerable.Range(a, b - a);
                }).ToList();
                Assert.Equal(Enumerable.Range(0, total), covered);
            }
        Assert.Equal(new Shard(2, 5), Shard.Parse("2/5"));
        foreach (var bad in new[] { "5/5", "-1/3", "1", "a/b", "1/0" })
            Assert.Throws<UserInputException>(() => Shard.Parse(bad));
    }
}

/// <summary>
/// The SLURM recipe in scripts/slurm/, run as its array tasks one after another (run-array-locally.sh) on tiny
/// inputs: the merged features and the sharded reconstructions must equal one unsharded run byte for byte.
/// </summary>
public class SlurmRecipeTests
{
    const int Images = 9, Shards = 3;
    static string Slurm => Path.Combine(TestPaths.RepoRoot, "scripts", "slurm");
    static string Cli => Path.Combine(AppContext.BaseDirectory, "brainmclip");

    static void Run(string file, IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.Environment["BRAINMCLIP"] = Cli;
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}\n{stdout.Result}\n{stderr}");
    }

    static void RunArray(string script, IReadOnlyDictionary<string, string> env) =>
        Run("bash", env, Path.Combine(Slurm, "run-array-locally.sh"), $"{Shards}", Path.Combine(Slurm, script));

    [Fact]
    public void ArrayTasksRunSequentiallyEqualAnUnshardedRun()
    {
        using var tmp = new TempDir();
        string clip = Path.Combine(tmp.Path, "clip"), stim = Path.Combine(tmp.Path, "stim.npy");
        ClipCheckpointFactory.CreateRandom(clip, ClipVisionConfig.Preset("tiny"), 0);
        using (var g = new Generator(7))
        using (var px = randint(0, 256, [Images, 24, 24, 3], dtype: ScalarType.Byte, generator: g))
            Npy.WriteUInt8(stim, [Images, 24, 24, 3], px.data<byte>().ToArray());

        // Features: 3 array tasks + the merge job vs. one run with the same batch.
        string merged = Path.Combine(tmp.Path, "sharded", "features.safetensors"),
            whole = Path.Combine(tmp.Path, "whole.safetensors");
        var env = new Dictionary<string, string>
        { ["CLIP"] = clip, ["IMAGES"] = stim, ["OUT"] = merged, ["BATCH"] = "2" };
        RunArray("features.sbatch", env);
        Assert.Equal(Shards,
            Directory.GetFiles(Path.GetDirectoryName(merged)!, "features.shard-*-of-3.safetensors").Length);
        Run("bash", env, Path.Combine(Slurm, "merge-features.sbatch"));
        Run(Cli, env, "features", "--clip", clip, "--input", stim, "--out", whole, "--batch", "2");
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(merged));

        // Reconstruction (and the upper bound from the true features): 3 array tasks into one folder vs. one run.
        string gen = Path.Combine(tmp.Path, "gen"), pred = Path.Combine(tmp.Path, "pred.safetensors");
        PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        {
            ImagesPath = stim,
            FeaturesPath = whole,
            OutDir = gen,
            Steps = 2,
            BatchSize = 2,
            Size = 32,
        }, TextWriter.Null);
        using (var scope = NewDisposeScope())
        {
            var sem = SafeTensors.LoadTensor(whole, "semantic");
            var g = new Generator(11);
            SafeTensors.Save(pred, new Dictionary<string, Tensor>
            {
                ["semantic"] = sem + 0.1 * randn(sem.shape, generator: g),
                ["detail_projected"] = randn(sem.shape, generator: g),
            });
        }
        string sharded = Path.Combine(tmp.Path, "recon-sharded"), single = Path.Combine(tmp.Path, "recon-single");
        var renv = new Dictionary<string, string>
        {
            ["PRED"] = pred,
            ["GENERATOR"] = gen,
            ["RECON"] = sharded,
            ["STEPS"] = "2",
            ["TRUTH_FEATURES"] = whole,
        };
        RunArray("reconstruct.sbatch", renv);
        Run(Cli, renv, "reconstruct", "--pred", pred, "--generator", gen, "--out", single, "--steps", "2",
            "--truth-features", whole);
        foreach (var sub in new[] { "", "true_features" })
        {
            var a = Directory.GetFiles(Path.Combine(single, sub), "rec_*.png").Select(Path.GetFileName).Order()
                .ToList();
            var b = Directory.GetFiles(Path.Combine(sharded, sub), "rec_*.png").Select(Path.GetFileName).Order()
                .ToList();
            Assert.Equal(Images, a.Count);
            Assert.Equal(a, b);
            // Shards of 3 images against one run in calls of 4 (--batch default): other row counts, so within one
            // grey level (Float32Reorder); the feature shards above are whole batches and stay byte-identical.
            foreach (var f in a)
                Float32Reorder.AssertPngsClose(Path.Combine(single, sub, f!), Path.Combine(sharded, sub, f!));
            // One manifest per task, together listing every image once.
            var indices = Enumerable.Range(0, Shards).SelectMany(i =>
            {
                var m = System.Text.Json.Nodes.JsonNode.Parse(
                    File.ReadAllText(Path.Combine(sharded, sub, $"reconstruct.shard-{i}-of-{Shards}.json")))!;
                return m["images"]!.AsArray().Select(e => e!["index"]!.GetValue<int>());
            }).ToList();
            Assert.Equal(Enumerable.Range(0, Images), indices);
        }
        // Upper-bound images differ from the prediction images (other conditioning, same seeds).
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(single, "rec_000.png")),
            File.ReadAllBytes(Path.Combine(single, "true_features", "rec_000.png")));
    }
}
