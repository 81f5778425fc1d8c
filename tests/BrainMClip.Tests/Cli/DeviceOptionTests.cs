using System.CommandLine;
using System.Diagnostics;
using BrainMClip.Cli;
using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>
/// Any device, one switch: every command that computes with torch takes the one shared <c>--device</c> option; this
/// CPU build accepts cpu and refuses cuda with exit 2, saying that it has no CUDA and how to build with it; the MSBuild
/// property TorchBackend selects the CUDA package.
/// </summary>
[Collection("Console")]
public class DeviceOptionTests
{
    /// <summary>Each computing command with its required options (placeholder paths: the device is checked before any
    /// file is opened).</summary>
    public static readonly TheoryData<string[]> ComputingCommands = new()
    {
        new[] { "features", "--clip", "c", "--input", "i.npy", "--out", "o.safetensors" },
        new[] { "train", "--data", "d", "--features", "f.safetensors", "--out", "o" },
        new[] { "predict", "--run", "r", "--data", "d", "--out", "o.safetensors" },
        new[] { "ablate", "--data", "d", "--features", "f", "--features-test", "t", "--out", "o" },
        new[] { "study", "--data", "d", "--features-train", "f", "--features-test", "t", "--out", "o" },
        new[] { "generator", "train", "--images", "i.npy", "--features", "f", "--out", "o" },
        new[] { "generator", "bench", "--steps", "1" },
        new[] { "reconstruct", "--pred", "p", "--generator", "g", "--out", "o" },
        new[] { "evaluate", "--truth", "t", "--recons", "r", "--out", "o.json" },
        new[] { "clip-train", "--out", "o" },
        new[] { "doctor" },
        new[] { "parity", "--component", "clip-vision", "--model", "m", "--inputs", "i", "--out", "o" },
        new[] { "retrieve", "--pred", "p", "--features", "f" },
        new[] { "analyze-layers", "--features", "f", "--data", "d", "--out", "o" },
    };

    [Theory]
    [MemberData(nameof(ComputingCommands))]
    public void CudaOnTheCpuBuildIsExit2SayingHowToBuildIt(string[] command)
    {
        Assert.Equal("cpu", TorchSetup.Backend);
        var (code, _, err) = CliRunner.Run([.. command, "--device", "cuda"]);
        Assert.True(code == 2, $"{string.Join(' ', command)}: exit {code}: {err}");
        Assert.Contains("device 'cuda': this build has no CUDA", err);
        Assert.Contains("-p:TorchBackend=cuda", err);
        (code, _, err) = CliRunner.Run([.. command, "--device", "gpu"]);
        Assert.Equal(2, code);
        Assert.Contains("expected cpu, cuda or cuda:N", err);
    }

    [Theory]
    [MemberData(nameof(ComputingCommands))]
    public void CpuIsAccepted(string[] command)
    {
        var parse = Program.BuildRoot().Parse([.. command, "--device", "cpu"]);
        Assert.Empty(parse.Errors);
        Assert.Equal("cpu", parse.GetValue<string>("--device"));
    }

    /// <summary>The option is defined once (SharedOptions.Device): every command that has it describes it the same
    /// way, and every computing command has it.</summary>
    [Fact]
    public void EveryDeviceOptionIsTheSharedOne()
    {
        string shared = SharedOptions.Device().Description!;
        var withDevice = new List<string>();
        void Walk(Command c, string path)
        {
            foreach (var sub in c.Subcommands) Walk(sub, (path + " " + sub.Name).Trim());
            var o = c.Options.FirstOrDefault(o => o.Name == "--device");
            if (o is null) return;
            withDevice.Add(path);
            Assert.StartsWith(shared, o.Description);
        }
        Walk(Program.BuildRoot(), "");
        foreach (var command in ComputingCommands)
        {
            string words = string.Join(' ', command.TakeWhile(w => !w.StartsWith('-')));
            Assert.Contains(words, withDevice);
        }
    }

    [Fact]
    public void ParseDeviceNamesTheDeviceInDomainWords()
    {
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchSetup.ParseDevice(" CPU ").type);
        var e = Assert.Throws<UserInputException>(() => TorchSetup.ParseDevice("cuda:1"));
        Assert.StartsWith("device 'cuda:1': this build has no CUDA", e.Message);
        Assert.DoesNotContain("--", e.Message.Replace("-p:", ""));
    }

    /// <summary>One MSBuild property switches the libtorch package (evaluation only: the CUDA package is not served
    /// here, so a CUDA build cannot restore on this machine).</summary>
    [Fact]
    public void TorchBackendPropertySelectsTheCudaPackage()
    {
        string core = Path.Combine(TestPaths.RepoRoot, "src", "BrainMClip.Core", "BrainMClip.Core.csproj");
        string Items(string backend)
        {
            var psi = new ProcessStartInfo("dotnet",
                ["msbuild", core, "-getItem:PackageReference", $"-p:TorchBackend={backend}", "-nologo"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, output + p.StandardError.ReadToEnd());
            return output;
        }
        string cuda = Items("cuda"), cpu = Items("cpu");
        Assert.Contains("\"TorchSharp-cuda-linux\"", cuda);
        Assert.DoesNotContain("\"TorchSharp-cpu\"", cuda);
        Assert.Contains("\"TorchSharp-cpu\"", cpu);
        Assert.DoesNotContain("\"TorchSharp-cuda-linux\"", cpu);
    }
}
