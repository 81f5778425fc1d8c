using System.Text.RegularExpressions;
using TorchSharp;

namespace BrainMClip.Numerics;

/// <summary>What the machine and the libtorch build are, for <c>brainmclip doctor</c> and bug reports.</summary>
public sealed record MachineInfo(string CpuModel, IReadOnlyList<string> CpuFlags, int LogicalCpus, int TorchThreads,
    string? OmpNumThreads, string Torch, string? OneDnn, string? Blas, string? CpuCapability, bool OneDnnEnabled,
    IReadOnlyList<string> LibTorchConfig, string CpuId = "unknown")
{
    /// <summary>
    /// One line for logs (test.sh prints it first, so every test log names the CPU whose kernels ran): model, vendor /
    /// family / model / stepping (the model name alone can hide the micro-architecture under a hypervisor), logical
    /// CPUs, torch threads, the widest vector extension, libtorch's CPU capability and the oneDNN version.
    /// </summary>
    public string Summary
    {
        get
        {
            string vector = CpuFlags.Contains("amx_tile") ? "AMX" : CpuFlags.Contains("avx512f") ? "AVX-512"
                : CpuFlags.Contains("avx2") ? "AVX2" : "no AVX2";
            return $"{CpuModel} ({CpuId}); {LogicalCpus} logical CPUs, {TorchThreads} torch threads; {vector}; " +
                $"libtorch {Torch}, capability {CpuCapability ?? "?"}, oneDNN {OneDnn ?? "?"}" +
                (OneDnnEnabled ? "" : " (off)");
        }
    }

    /// <summary>The instruction-set flags that decide which oneDNN / BLAS kernels run.</summary>
    static readonly string[] KernelFlags =
    [
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
        "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    ];

    public static MachineInfo Collect()
    {
        var (model, flags, id) = ReadCpuInfo();
        string config = LibTorchContext.ShowConfig();
        return new MachineInfo(model, KernelFlags.Where(flags.Contains).ToList(), Environment.ProcessorCount,
            torch.get_num_threads(), Environment.GetEnvironmentVariable("OMP_NUM_THREADS"), torch.__version__,
            Match(config, @"(?:oneDNN|MKL-DNN) v?([0-9][^\s,)]*)"),
            Line(config, "Math Kernel Library") ?? Line(config, "BLAS"),
            Match(config, @"CPU capability usage: *(\S+)"), LibTorchContext.OneDnnEnabled,
            config.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), id);
    }

    static (string Model, HashSet<string> Flags, string Id) ReadCpuInfo()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path)) return ("unknown (no /proc/cpuinfo)", [], "unknown");
        string? model = null;
        var id = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (key == "model name") model ??= value;
            else if (key is "vendor_id" or "cpu family" or "model" or "stepping") id.TryAdd(key, value);
            else if (key == "flags" && flags.Count == 0)
                flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        string Get(string k) => id.GetValueOrDefault(k, "?");
        return (model ?? "unknown", flags,
            $"{Get("vendor_id")} family {Get("cpu family")} model {Get("model")} stepping {Get("stepping")}");
    }

    static string? Match(string text, string pattern) =>
        Regex.Match(text, pattern) is { Success: true } m ? m.Groups[1].Value : null;

    static string? Line(string text, string contains) =>
        text.Split('\n').Select(l => l.Trim().TrimStart('-', ' '))
            .FirstOrDefault(l => l.Contains(contains, StringComparison.Ordinal));
}
