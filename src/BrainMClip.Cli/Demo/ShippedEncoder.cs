namespace BrainMClip.Cli.Demo;

/// <summary>
/// The target encoder shipped with the program (assets/encoders/world-tiny): the Hugging Face CLIP folder that
/// <c>clip-train</c> wrote for seed 3 at 5,000 steps (its training.json holds the options and the held-out probe).
/// The demo copies it instead of training one, because a run that learns categories takes ~20 minutes on 2 cores,
/// more than the whole demo's budget; <c>demo --encoder trained</c> trains one from scratch instead.
/// </summary>
public static class ShippedEncoder
{
    public const string Name = "world-tiny";

    /// <summary>The shipped folder next to the program (copied there by the build).</summary>
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "assets", "encoders", Name);

    /// <summary>The command that made it (recorded in its training.json; documented in assets/encoders/README.md).
    /// </summary>
    public static readonly string[] TrainingCommandLine =
        ["clip-train", "--preset", "tiny", "--seed", "3", "--images", "4000", "--epochs", "40", "--lowres", "0.5",
            "--lowres-sides", "16-40", "--threads", "1"];

    static readonly string[] Files =
        ["config.json", "model.safetensors", "preprocessor_config.json", "training.json", "layers.json"];

    /// <summary>Copies the shipped encoder into <paramref name="dest"/> (a CLIP folder `features` reads).</summary>
    public static void CopyTo(string dest)
    {
        Directory.CreateDirectory(dest);
        foreach (var f in Files)
        {
            string src = Path.Combine(Folder, f);
            if (!File.Exists(src))
                throw new UserInputException(
                    $"{src}: the shipped encoder is missing (expected the files {string.Join(", ", Files)}); " +
                    "rebuild, or run the demo with --encoder trained or --encoder random");
            string tmp = Path.Combine(dest, f + ".tmp");
            File.Copy(src, tmp, overwrite: true);
            File.Move(tmp, Path.Combine(dest, f), overwrite: true);
        }
    }
}
