using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// The named random generators of one training run, each seeded from the run's seed. Every draw of a trainer comes
/// from one of these (or from a generator it derives the same way), never from the process-wide RNG, so runs are
/// reproducible while other code draws random numbers, and <see cref="TrainingLoop"/> checkpoints their states
/// (<c>rng.NAME</c>) so a resumed run continues each stream where it stopped.
/// </summary>
public sealed class RunGenerators : IDisposable
{
    readonly List<(string Name, Generator Generator)> _all = [];

    /// <summary>A new generator named <paramref name="name"/> (its checkpoint key is <c>rng.NAME</c>).</summary>
    public Generator Add(string name, ulong seed)
    {
        if (_all.Any(g => g.Name == name)) throw new ArgumentException($"generator '{name}' exists", nameof(name));
        var g = new Generator(seed);
        _all.Add((name, g));
        return g;
    }

    public IReadOnlyList<(string Name, Generator Generator)> All => _all;

    public void Dispose()
    {
        foreach (var (_, g) in _all) g.Dispose();
        _all.Clear();
    }
}
