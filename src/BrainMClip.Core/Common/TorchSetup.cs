using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using TorchSharp;

namespace BrainMClip;

/// <summary>Device selection and process-wide libtorch settings, chosen once at start-up by the CLI or a
/// test.</summary>
public static class TorchSetup
{
    /// <summary>The device when none is chosen: CPU runs are deterministic.</summary>
    public const string DefaultDevice = "cpu";

    /// <summary>
    /// The libtorch this build carries: "cpu" (TorchSharp-cpu) or "cuda" (TorchSharp-cuda-linux), set by the MSBuild
    /// property TorchBackend (<c>dotnet build -p:TorchBackend=cuda</c>).
    /// </summary>
    public static string Backend { get; } =
        typeof(TorchSetup).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "cpu";

    /// <summary>The command that builds this project with CUDA (README, "GPU").</summary>
    public const string CudaBuildCommand = "dotnet build src/BrainMClip.Cli -c Release -p:TorchBackend=cuda";

    /// <summary>
    /// Parses "cpu", "cuda" or "cuda:N" into a device. A CUDA device on a CPU build, or one the machine does not have,
    /// is bad input naming what to do; on a CUDA build with a GPU nothing refuses it.
    /// </summary>
    public static torch.Device ParseDevice(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        var m = Regex.Match(n, @"^cuda(?::(\d{1,4}))?$");
        if (!m.Success) throw UserInputException.Invalid("Device", $"device '{name}': expected cpu, cuda or cuda:N");
        if (Backend != "cuda")
            throw UserInputException.Invalid("Device",
                $"device '{name}': this build has no CUDA (it carries libtorch for the CPU, package TorchSharp-cpu); " +
                $"build with CUDA ({CudaBuildCommand}, package TorchSharp-cuda-linux; README, 'GPU') or use cpu");
        if (!torch.cuda.is_available())
            throw UserInputException.Invalid("Device",
                $"device '{name}': this CUDA build finds no CUDA device (check the NVIDIA driver, nvidia-smi and " +
                $"CUDA_VISIBLE_DEVICES)");
        int index = m.Groups[1].Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        int count = torch.cuda.device_count();
        if (index >= count)
            throw UserInputException.Invalid("Device",
                $"device '{name}': this machine has {count} CUDA device{(count == 1 ? "" : "s")} (cuda:0.." +
                $"cuda:{count - 1})");
        return torch.device(DeviceType.CUDA, index);
    }

    /// <summary>Whether <paramref name="device"/> is the CPU (null means the CPU).</summary>
    public static bool IsCpu(torch.Device? device) => device is null || device.type == DeviceType.CPU;
}
