using BrainMClip.IO;
using BrainMClip.Parity;
using BrainMClip.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

[Collection("Console")]
public class GenerationCliTests
{
    [Theory]
    [InlineData("ddim", "ddim", "step2_prev_sample")]
    [InlineData("unet", "unet", "noise_pred")]
    public void ParityCommandWritesGoldenNames(string component, string sub, string tensor)
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var dir = GoldenModelTests.Dir(sub);
        var golden = Path.Combine(dir, "golden.safetensors");
        var outPath = Path.Combine(tmp.Path, "out.safetensors");
        var (code, stdout, stderr) = CliRunner.Run("parity", "--component", component, "--model", dir, "--inputs",
            golden, "--out", outPath);
        Assert.True(code == 0, stderr);
        Assert.Contains(tensor, stdout);
        var a = SafeTensors.LoadTensor(outPath, tensor);
        var e = SafeTensors.LoadTensor(golden, tensor);
        Assert.True(GoldenModelTests.MaxAbs(a, e) < 1e-4);
    }

    [Fact]
    public void ReconstructReportsBadInputWithExitCode2()
    {
        using var tmp = new TempDir();
        var (code, _, err) = CliRunner.Run("reconstruct", "--pred", Path.Combine(tmp.Path, "missing.safetensors"),
            "--generator", TestPaths.Golden("diffusion-tiny"), "--out", Path.Combine(tmp.Path, "r"));
        Assert.Equal(2, code);
        Assert.Contains("missing.safetensors", err);
        (code, _, err) = CliRunner.Run("generator", "train", "--images", Path.Combine(tmp.Path, "none.npy"),
            "--features", Path.Combine(tmp.Path, "f.safetensors"), "--out", Path.Combine(tmp.Path, "g"), "--size",
                "48");
        Assert.Equal(2, code);
    }
}
