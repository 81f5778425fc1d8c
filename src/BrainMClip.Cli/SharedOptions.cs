using System.CommandLine;
using BrainMClip.Data;

namespace BrainMClip.Cli;

/// <summary>
/// Options several commands take, defined once (name, type, default and description), so every command describes
/// them the same way. Each call returns a new instance: System.CommandLine options belong to one command.
/// </summary>
public static class SharedOptions
{
    public static Option<string> Data() => new("--data")
    {
        Description = "Data root in the Brain-Diffuser layout (processed_data/, nsddata/ with the ROI masks).",
        Required = true,
    };

    public static Option<int> Subject() => new("--subject")
    {
        Description = "Subject number (1-based; folder subj0N).",
        DefaultValueFactory = _ => NsdSubject.DefaultSubject,
    };

    public static Option<string> BetaScale() => new("--beta-scale")
    {
        Description = "Divide fMRI values: auto (by 300 when int16 or |mean| > 30, i.e. NSD ×300 betas), none, or a " +
                      "number; predict with the setting used for training.",
        DefaultValueFactory = _ => NsdSubject.DefaultBetaScale,
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "cpu, cuda or cuda:N (cuda needs a CUDA build; CPU runs are deterministic).",
        DefaultValueFactory = _ => TorchSetup.DefaultDevice,
    };

    /// <summary>The seed of a command that draws random numbers itself; <paramref name="defaultSeed"/> is the
    /// seed its options record declares.</summary>
    public static Option<long> Seed(long defaultSeed) => new("--seed")
    {
        Description = "Random seed (every draw derives from it: the same seed gives the same output).",
        DefaultValueFactory = _ => defaultSeed,
    };

    /// <summary>The seed of a command that trains from a configuration holding its own seed.</summary>
    public static Option<long?> SeedOverride() => new("--seed")
    {
        Description = "Override training.seed of the configuration.",
    };

    /// <summary>
    /// Torch CPU threads. The tiny network's matrices are small (batch 50 × a few thousand), so intra-op parallelism
    /// gains little, and on a machine whose cores are busy a second thread that is descheduled stalls every parallel
    /// region: measured on 2 shared cores (load ~15), one training step ran 6.5× faster with 1 thread than with 2
    /// (docs/evidence.md § 5).
    /// </summary>
    public static Option<int?> Threads() => new("--threads")
    {
        Description = "Torch CPU threads (default: libtorch's choice, OMP_NUM_THREADS or the core count); 1 is " +
                      "fastest for the tiny network on a busy machine.",
    };

    /// <summary>Applies --threads when given.</summary>
    public static void ApplyThreads(int? threads)
    {
        if (threads is not { } t) return;
        if (t < 1) throw new UserInputException($"--threads {t}: expected at least 1");
        TorchSharp.torch.set_num_threads(t);
    }
}
