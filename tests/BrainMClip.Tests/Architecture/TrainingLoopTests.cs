using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests.Architecture;

/// <summary>
/// One training loop: the brain trainer, clip-train and the pixel generator each run in
/// <c>Optimization/TrainingLoop</c>, and no code outside <c>Optimization/</c> builds an optimiser, a schedule, clips
/// gradients or serialises optimiser state; no trainer seeds the process-wide generator.
/// </summary>
public sealed partial class TrainingLoopTests
{
    static readonly string Core = Path.Combine(TestPaths.RepoRoot, "src", "BrainMClip.Core");

    static readonly string[] Trainers =
    [
        "Training/TrainingSession.cs", "Simulation/TargetEncoder/ClipTrainer.cs",
        "Generation/Training/PixelGeneratorTrainer.cs",
    ];

    /// <summary>What only the loop may do, anywhere in src/ outside Optimization/.</summary>
    static readonly string[] LoopOnly =
        ["optim.AdamW(", "new AdamW(", "clip_grad_norm_(", "lr_scheduler", "save_state_dict(", "load_state_dict("];

    [Fact]
    public void EveryTrainerRunsInTheOneLoop()
    {
        foreach (var t in Trainers)
            Assert.Contains("new TrainingLoop(", Code(File.ReadAllText(Path.Combine(Core, t))));
    }

    [Fact]
    public void NothingOutsideTheLoopOptimisesOrSeedsTheGlobalGenerator()
    {
        var found = Violations(Core);
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    [Fact]
    public void APlantedOptimiserOrGlobalSeedIsFound()
    {
        using var dir = new TempDir();
        void Write(string rel, string text)
        {
            var path = Path.Combine(dir.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write("Optimization/Loop.cs", "var o = optim.AdamW(p); nn.utils.clip_grad_norm_(p, 1);");
        Write("Training/Ok.cs",
            "// manual_seed(1) and optim.AdamW( in a comment are fine\nvar x = 1; runGen.manual_seed(4);");
        Assert.Empty(Violations(dir.Path));
        Write("Generation/Training/Bad.cs", "torch.manual_seed(3);");
        Write("Training/Bad.cs", "  manual_seed(3);");
        Write("Evaluation/Bad.cs", "nn.utils.clip_grad_norm_(ps, 1.0);");
        var found = Violations(dir.Path);
        Assert.Equal(3, found.Count);
        Assert.Contains(found, f => f.Contains("manual_seed", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("clip_grad_norm_", StringComparison.Ordinal));
    }

    static List<string> Violations(string root)
    {
        var found = new List<string>();
        foreach (var f in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, f).Replace('\\', '/');
            if (rel.Split('/').Any(p => p is "bin" or "obj")
                || rel.StartsWith("Optimization/", StringComparison.Ordinal)) continue;
            var code = Code(File.ReadAllText(f));
            foreach (var token in LoopOnly.Where(t => code.Contains(t, StringComparison.Ordinal)))
                found.Add($"{rel}: {token} (belongs in Optimization/TrainingLoop)");
            bool trainer = rel.StartsWith("Training/", StringComparison.Ordinal)
                || rel.StartsWith("Simulation/TargetEncoder/", StringComparison.Ordinal)
                || rel.StartsWith("Generation/Training/", StringComparison.Ordinal);
            if (trainer && GlobalSeed().IsMatch(code))
                found.Add($"{rel}: manual_seed (seed a run generator: RunGenerators, ModuleInit)");
        }
        return found;
    }

    /// <summary>The source without // comments.</summary>
    static string Code(string text) => LineComment().Replace(text, "");

    /// <summary><c>manual_seed(…)</c> or <c>torch.manual_seed(…)</c>, not a generator's own
    /// <c>gen.manual_seed(…)</c>.</summary>
    [GeneratedRegex(@"(?:^|[^\w.]|\btorch\.)manual_seed\(", RegexOptions.Multiline)]
    private static partial Regex GlobalSeed();

    [GeneratedRegex(@"//.*$", RegexOptions.Multiline)]
    private static partial Regex LineComment();
}
