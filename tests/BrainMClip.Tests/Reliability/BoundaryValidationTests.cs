using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Input validation at the boundary: bad paths fail before any long work starts, and config values out of range are
/// rejected with exit code 2 and a message naming the file and the field.
/// </summary>
[Trait("Category", "Reliability")]
[Collection("Console")]
public class BoundaryValidationTests
{
    /// <summary>The committed tiny CLIPModel fixture copied to <paramref name="root"/> (tests edit its
    /// configs).</summary>
    static string TinyClip(string root)
    {
        string clip = Path.Combine(root, "clip");
        Directory.CreateDirectory(clip);
        foreach (var f in new[] { "config.json", "model.safetensors", "preprocessor_config.json" })
            File.Copy(TestPaths.Fixture("clip/clipmodel/" + f), Path.Combine(clip, f));
        return clip;
    }

    static string Stimuli(string root, int n = 4)
    {
        string p = Path.Combine(root, "stim.npy");
        Npy.Write(p, NpyDType.UInt8, [n, 8, 8, 3], new byte[n * 8 * 8 * 3]);
        return p;
    }

    [Fact]
    public void FeaturesWithUnwritableOutFailsBeforeExtracting()
    {
        using var dir = new TempDir();
        string clip = TinyClip(dir.Path), stim = Stimuli(dir.Path);
        string blocker = Path.Combine(dir.Path, "not-a-folder");
        File.WriteAllText(blocker, "x");
        string output = Path.Combine(blocker, "feat.safetensors"); // parent is a file: cannot be created
        var (code, _, err) = CliRunner.Run("features", "--clip", clip, "--input", stim, "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
        Assert.Contains("cannot write", err);
        Assert.DoesNotContain("features 0/1", err); // no progress bar: nothing was extracted

        string folder = Path.Combine(dir.Path, "a-folder");
        Directory.CreateDirectory(folder);
        (code, _, err) = CliRunner.Run("features", "--clip", clip, "--input", stim, "--out", folder);
        Assert.Equal(2, code);
        Assert.Contains("is a folder", err);
    }

    [Fact]
    public void FeaturesWithMissingInputOrCheckpointFailsWithExit2()
    {
        using var dir = new TempDir();
        string clip = TinyClip(dir.Path), stim = Stimuli(dir.Path), output = Path.Combine(dir.Path, "f.safetensors");
        var (code, _, err) = CliRunner.Run("features", "--clip", clip, "--input", Path.Combine(dir.Path, "missing.npy"),
            "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("missing.npy", err);
        (code, _, err) = CliRunner.Run("features", "--clip", Path.Combine(dir.Path, "no-clip"), "--input", stim,
            "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("no-clip", err);
        Assert.False(File.Exists(output));
    }

    /// <summary>Each (field, bad value) in a CLIP config.json: exit 2 and the message names config.json and the
    /// field.</summary>
    [Theory]
    [InlineData("hidden_size", "-1")]
    [InlineData("hidden_size", "0")]
    [InlineData("hidden_size", "97")] // not divisible by 3 heads
    [InlineData("num_hidden_layers", "\"twelve\"")]
    [InlineData("num_attention_heads", "0")]
    [InlineData("patch_size", "7")] // 48 not divisible by 7
    [InlineData("image_size", "2.5")]
    [InlineData("layer_norm_eps", "0")]
    [InlineData("layer_norm_eps", "-1e-5")]
    [InlineData("hidden_act", "\"relu\"")]
    [InlineData("model_type", "\"bert\"")]
    [InlineData("intermediate_size", "1000000000")] // more than the weights on disk can hold
    public void ClipConfigOutOfRangeIsRejectedNamingTheField(string field, string value)
    {
        using var dir = new TempDir();
        string clip = TinyClip(dir.Path), stim = Stimuli(dir.Path);
        string cfgPath = Path.Combine(clip, "config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
        // CLIPModel layout: tower fields under vision_config, model_type and projection_dim at the top.
        var target = field is "model_type" or "projection_dim" ? cfg : cfg["vision_config"]!.AsObject();
        target[field] = JsonNode.Parse(value);
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        var (code, _, err) = CliRunner.Run("features", "--clip", clip, "--input", stim, "--out",
            Path.Combine(dir.Path, "f.safetensors"));
        Assert.Equal(2, code);
        Assert.Contains("config.json", err);
        Assert.Contains(field == "intermediate_size" ? "intermediate_size" : $"'{field}'", err);
    }

    [Theory]
    [InlineData("crop_size", "{\"height\": 100000, \"width\": 48}")]
    [InlineData("size", "{\"shortest_edge\": -3}")]
    [InlineData("resample", "9")]
    [InlineData("image_std", "[0.2, 0, 0.2]")]
    [InlineData("image_mean", "[0.5, null, 0.5]")]
    [InlineData("rescale_factor", "\"1/255\"")]
    [InlineData("do_resize", "\"yes\"")]
    public void PreprocessorConfigOutOfRangeIsRejectedNamingTheField(string field, string value)
    {
        using var dir = new TempDir();
        string clip = TinyClip(dir.Path), stim = Stimuli(dir.Path);
        string p = Path.Combine(clip, "preprocessor_config.json");
        var cfg = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
        cfg[field] = JsonNode.Parse(value);
        File.WriteAllText(p, cfg.ToJsonString());
        var (code, _, err) = CliRunner.Run("features", "--clip", clip, "--input", stim, "--out",
            Path.Combine(dir.Path, "f.safetensors"));
        Assert.Equal(2, code);
        Assert.Contains("preprocessor_config.json", err);
        Assert.Contains(field, err);
    }

    [Fact]
    public void StaleTempsOfKilledWritersAreRemovedButLiveOnesKept()
    {
        using var dir = new TempDir();
        string target = Path.Combine(dir.Path, "out.safetensors");
        string dead = Path.Combine(dir.Path, $".out.safetensors.{int.MaxValue - 7}.{Guid.NewGuid():N}.tmp");
        string live = Path.Combine(dir.Path, $".out.safetensors.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        string other = Path.Combine(dir.Path, $".other.safetensors.{int.MaxValue - 7}.{Guid.NewGuid():N}.tmp");
        foreach (var f in new[] { dead, live, other }) File.WriteAllText(f, "partial");
        Assert.Equal(1, AtomicFile.DeleteStaleTemps(target));
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live) && File.Exists(other));
    }
}

/// <summary>
/// Mutated inputs through the whole CLI (<c>brainmclip features</c>): every case ends with exit code 0 or 2 (a clear
/// input error), never 1 (an internal error) or a crash.
/// </summary>
[Trait("Category", "Reliability")]
[Collection("Console")]
public class CliFuzzTests(Xunit.Abstractions.ITestOutputHelper log)
{
    static void Features(string input)
    {
        string output = Path.Combine(Path.GetDirectoryName(input)!, "out.safetensors");
        var (code, _, err) = CliRunner.Run("features", "--clip", TestPaths.Fixture("clip/clipmodel"), "--input", input,
            "--out", output, "--batch", "2");
        if (code == 2) throw new UserInputException(err.Trim());
        if (code != 0) throw new InvalidOperationException($"exit code {code}: {err}");
    }

    [Fact]
    public void FeaturesExitsWith2OnMutatedInputs()
    {
        var stim = new byte[3 * 6 * 6 * 3];
        new Random(4).NextBytes(stim);
        using var dir = new TempDir();
        string npy = Path.Combine(dir.Path, "s.npy");
        Npy.Write(npy, NpyDType.UInt8, [3, 6, 6, 3], stim);
        int total = 0;
        total += Fuzzer.Run("cli-npy", [File.ReadAllBytes(npy)], 40, ".npy", Features, log, headerBytes: 128).Cases;
        total += Fuzzer.Run("cli-hdf5", [File.ReadAllBytes(TestPaths.Fixture("reliability/images_f16.hdf5"))], 40,
            ".hdf5", Features, log, headerBytes: 4096).Cases;
        total += Fuzzer.Run("cli-jpeg", [File.ReadAllBytes(TestPaths.Fixture("reliability/seed.jpg"))], 40, ".jpg",
            Features, log, headerBytes: 400).Cases;
        Assert.Equal(120, total);
    }
}
