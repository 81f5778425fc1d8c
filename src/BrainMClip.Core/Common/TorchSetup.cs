using TorchSharp;

namespace BrainMClip;

/// <summary>Device selection and process-wide libtorch settings, chosen once at start-up by the CLI or a
/// test.</summary>
public static class TorchSetup
{
    /// <summary>The device when none is chosen: CPU runs are deterministic.</summary>
    public const string DefaultDevice = "cpu";

    /// <summary>Parses "cpu", "cuda" or "cuda:N" into a device, with a clear error when CUDA is not
    /// available.</summary>
    public static torch.Device ParseDevice(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        if (n.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw UserInputException.Invalid("Device",
                    $"device {name}: CUDA is not available in this build (it uses the TorchSharp-cpu package; see " +
                        $"README, 'GPU').");
            return torch.device(n);
        }
        throw UserInputException.Invalid("Device", $"unknown device '{name}' (expected cpu, cuda or cuda:N)");
    }
}
