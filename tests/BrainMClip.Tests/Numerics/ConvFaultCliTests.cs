using System.Diagnostics;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using BrainMClip.Tests.Data;
using BrainMClip.Tests.Reliability;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Numerics;

/// <summary>
/// Issue 12 end to end: a 5-step <c>generator train</c> is finite and repeatable (on an affected CPU oneDNN gave NaN
/// or a different loss per run), and <c>brainmclip doctor</c> reports every check and the route.
/// </summary>
[Collection("Console")]
public class ConvFaultCliTests
{
    static string Ok((int Code, string Out, string Err) r)
    {
        Assert.True(r.Code == 0, r.Err);
        return r.Out;
    }

    [Fact]
    public void FiveStepGeneratorTrainingIsFiniteAndIdenticalTwice()
    {
        using var dir = new TempDir();
        string P(string s) => Path.Combine(dir.Path, s);
        Ok(CliRunner.Run("synth", "--out", P("data"), "--train", "24", "--test", "4", "--image-size", "32",
            "--seed", "3"));
        string images = Path.Combine(P("data"), "processed_data", "subj01", "nsd_train_stim_sub1.npy");
        Ok(CliRunner.Run("features", "--clip", TestPaths.Fixture("clip/clipmodel"), "--input", images,
            "--out", P("f.safetensors"), "--batch", "8"));
        var losses = new List<double>();
        foreach (var run in new[] { "g1", "g2" })
        {
            var json = JsonNode.Parse(Ok(CliRunner.Run("generator", "train", "--images", images, "--features",
                P("f.safetensors"), "--out", P(run), "--steps", "5", "--seed", "0", "--batch", "4",
                "--channels", "32,48,48")))!;
            losses.Add(json["final_loss"]!.GetValue<double>());
        }
        Assert.True(double.IsFinite(losses[0]) && losses[0] > 0, $"final loss {losses[0]}");
        Assert.Equal(losses[0], losses[1]);
        using var scope = NewDisposeScope();
        var a = SafeTensors.Load(Path.Combine(P("g1"), "unet", "diffusion_pytorch_model.safetensors"));
        var b = SafeTensors.Load(Path.Combine(P("g2"), "unet", "diffusion_pytorch_model.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys)
        {
            Assert.True(a[k].isfinite().all().item<bool>(), $"{k} is not finite after 5 steps");
            Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{k} differs between two identical runs");
        }
    }

    [Fact]
    public void DoctorPrintsEveryCheckWithItsErrorAndPasses()
    {
        var (code, stdout, stderr) = CliRunner.Run("doctor");
        var json = JsonNode.Parse(stdout)!;
        var checks = json["checks"]!.AsArray();
        Assert.True(checks.Count >= 20, stdout);
        foreach (var c in checks)
        {
            Assert.NotNull(c!["name"]);
            Assert.NotNull(c["tolerance"]);
            Assert.Equal(c["error"] is not null && c["error"]!.GetValue<double>() <= c["tolerance"]!.GetValue<double>(),
                c["pass"]!.GetValue<bool>());
        }
        foreach (var name in new[] { "conv3x3 24->16", "conv3x3 32->3", "bf16 32->4", "matmul f32", "attention f32",
                     "groupnorm f32", "layernorm f32", "matmul bf16", "matmul fp16" })
            Assert.Contains(checks, c => c!["name"]!.GetValue<string>().Contains(name, StringComparison.Ordinal));
        bool ok = json["ok"]!.GetValue<bool>();
        Assert.Equal(ok ? 0 : 1, code);
        Assert.True(ok, stderr);
        Assert.Equal("2.10.0.0", json["machine"]!["torch"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(json["machine"]!["one_dnn"]?.GetValue<string>()), "oneDNN version not found");
        Assert.NotNull(json["convolutions"]!["route"]);
    }

    /// <summary>doctor --summary: one line naming the CPU as /proc/cpuinfo does (model name, vendor, family,
    /// model, stepping), read here independently; exit 0, no checks run.</summary>
    [Fact]
    public void DoctorSummaryIsOneLineNamingTheCpu()
    {
        var (code, stdout, stderr) = CliRunner.Run("doctor", "--summary");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        string Field(string key) => File.ReadLines("/proc/cpuinfo")
            .Select(l => l.Split(':', 2)).First(p => p.Length == 2 && p[0].Trim() == key)[1].Trim();
        Assert.StartsWith(Field("model name") + " (", lines[0]);
        Assert.Contains($"{Field("vendor_id")} family {Field("cpu family")} model {Field("model")} stepping " +
            Field("stepping"), lines[0]);
        Assert.Contains($"{Environment.ProcessorCount} logical CPUs", lines[0]);
        Assert.Contains("libtorch 2.10.0.0", lines[0]);
        Assert.DoesNotContain("checks", stdout);
    }

    /// <summary>The CLI in a child process with one environment variable set (the route is per process).</summary>
    static (int Code, string Out, string Err) Child(string oneDnn, params string[] args) =>
        ChildWith("BRAINMCLIP_ONEDNN", oneDnn, args);

    static (int Code, string Out, string Err) ChildWith(string variable, string value, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(ChildCli.Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment[variable] = value;
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "brainmclip did not finish in 2 minutes");
        return (p.ExitCode, stdout, err.Result);
    }

    [Fact]
    public void OneDnnOffSwitchesOneDnnOffForTheProcessWithoutNnpackNoise()
    {
        var (code, stdout, stderr) = Child("off", "doctor");
        Assert.True(code == 0, stderr);
        var json = JsonNode.Parse(stdout)!;
        Assert.Equal("OneDnnOff", json["convolutions"]!["route"]!.GetValue<string>());
        Assert.False(json["machine"]!["one_dnn_enabled"]!.GetValue<bool>());
        Assert.DoesNotContain("NNPACK", stderr, StringComparison.Ordinal);
        Assert.Contains("route OneDnnOff", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Child("sometimes", "doctor");
        Assert.Equal(2, code);
        Assert.Contains("BRAINMCLIP_ONEDNN=sometimes", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// The 3-level reference UNet (channels 8/16/16: its up blocks convolve 24 concatenated channels, the shape oneDNN
    /// gets wrong on Zen 5) against its float64 torch reference, with every route forced in its own process.
    /// </summary>
    [Theory]
    [InlineData("auto")]
    [InlineData("pad")]
    [InlineData("unfold")]
    [InlineData("off")]
    public void ReferenceUNetMatchesFloat64AlongEveryRoute(string route)
    {
        using var tmp = new TempDir();
        string dir = TestPaths.Fixture("diffusion/unet-3level"), golden = Path.Combine(dir, "golden.safetensors");
        string output = Path.Combine(tmp.Path, "out.safetensors");
        string[] args = ["parity", "--component", "unet", "--model", dir, "--inputs", golden, "--out", output];
        var (code, _, err) = route == "auto" ? Child("auto", args) : ChildWith("BRAINMCLIP_CONV_ROUTE", route, args);
        Assert.True(code == 0, err);
        Assert.Contains("convolutions: route", err, StringComparison.Ordinal);
        using var scope = NewDisposeScope();
        var pred = SafeTensors.LoadTensor(output, "noise_pred");
        var reference = SafeTensors.LoadTensor(golden, "noise_pred");
        double e = (pred.to_type(ScalarType.Float64) - reference.to_type(ScalarType.Float64))
            .abs().max().item<double>();
        Assert.True(e < 1e-4, $"route {route}: noise_pred max abs error {e}");
    }
}
