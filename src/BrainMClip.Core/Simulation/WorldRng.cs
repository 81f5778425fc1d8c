namespace BrainMClip.Simulation;

/// <summary>
/// SplitMix64: a tiny counter-based generator. The world uses it instead of <see cref="Random"/> so that a scene is a
/// pure function of (seed, index) that no .NET version change can alter, and so any image can be drawn without
/// generating the ones before it.
/// </summary>
public sealed class WorldRng
{
    ulong _state;

    public WorldRng(ulong state) => _state = state;

    /// <summary>The generator of scene <paramref name="index"/> in the stream <paramref name="seed"/>.</summary>
    public static WorldRng For(int seed, long index, ulong stream = 0) =>
        new(Mix(Mix((ulong)(uint)seed ^ (stream * 0xD1B54A32D192ED03UL)) ^ ((ulong)index * 0x9E3779B97F4A7C15UL)));

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong() => Mix(_state++);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n) => (int)(NextDouble() * n);

    /// <summary>Standard normal (Box–Muller).</summary>
    public double Gauss()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
