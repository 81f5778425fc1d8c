using Xunit.Abstractions;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Seeded mutation fuzzing of a reader: truncations, bit flips, byte overwrites with extreme values and header
/// field corruption. Every mutated input must either parse or raise <see cref="UserInputException"/>; any other
/// exception, or a case that exceeds its time budget, fails the test with the seed that reproduces it.
/// </summary>
public static class Fuzzer
{
    public sealed record Result(int Cases, int Rejected, int Accepted);

    static readonly byte[][] Extremes =
    [
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0, 0, 0, 0, 0, 0, 0, 0x80], [0xFF, 0xFF, 0xFF, 0xFF],
        [0, 0, 0, 0x80], [0x7F, 0x7F], "-1"u8.ToArray(), "99999999999999999999"u8.ToArray(), "NaN"u8.ToArray(),
    ];

    /// <summary>Produces the <paramref name="i"/>-th mutation of <paramref name="seed"/> (deterministic in
    /// i).</summary>
    public static byte[] Mutate(byte[] seed, int i, int headerBytes)
    {
        var rng = new Random(unchecked(i * 7919 + 17));
        var b = (byte[])seed.Clone();
        int focus = Math.Max(1, Math.Min(headerBytes, b.Length));
        switch (i % 6)
        {
            case 0: // truncation anywhere
                return b[..rng.Next(0, b.Length)];
            case 1: // bit flips, mostly in the header
                for (int k = 0, n = 1 + rng.Next(4); k < n && b.Length > 0; k++)
                {
                    int pos = rng.NextDouble() < 0.8 ? rng.Next(focus) : rng.Next(b.Length);
                    b[pos] ^= (byte)(1 << rng.Next(8));
                }
                return b;
            case 2: // extreme values written over header bytes
            {
                var e = Extremes[rng.Next(Extremes.Length)];
                int pos = rng.Next(focus);
                for (int k = 0; k < e.Length && pos + k < b.Length; k++) b[pos + k] = e[k];
                return b;
            }
            case 3: // random bytes replacing a header span
            {
                int pos = rng.Next(focus), len = 1 + rng.Next(8);
                for (int k = 0; k < len && pos + k < b.Length; k++) b[pos + k] = (byte)rng.Next(256);
                return b;
            }
            case 4: // header digits changed (text headers: npy dict, safetensors JSON)
            {
                for (int k = 0, n = 1 + rng.Next(3); k < n; k++)
                {
                    int pos = rng.Next(focus);
                    if (pos < b.Length && b[pos] >= '0' && b[pos] <= '9') b[pos] = (byte)('0' + rng.Next(10));
                    else if (pos < b.Length) b[pos] = (byte)"0123456789-,[]{}:\"' "[rng.Next(20)];
                }
                return b;
            }
            default: // appended garbage or truncated + garbage
            {
                int cut = rng.Next(b.Length + 1);
                var tail = new byte[rng.Next(1, 64)];
                rng.NextBytes(tail);
                return [.. b[..cut], .. tail];
            }
        }
    }

    /// <summary>Runs <paramref name="cases"/> mutations of each seed file through <paramref name="read"/>.</summary>
    /// <param name="mutate">Custom mutation (seed, case index) → bytes; default <see cref="Mutate"/> with <paramref
    /// name="headerBytes"/>.</param>
    public static Result Run(string name, IReadOnlyList<byte[]> seeds, int cases, string extension, Action<string> read,
        ITestOutputHelper? log, int headerBytes = 512, TimeSpan? perCase = null,
            Func<byte[], int, byte[]>? mutate = null)
    {
        var budget = perCase ?? TimeSpan.FromSeconds(10);
        using var dir = new TempDir();
        int rejected = 0, accepted = 0;
        for (int i = 0; i < cases; i++)
        {
            var seed = seeds[i % seeds.Count];
            var bytes = mutate != null ? mutate(seed, i) : Mutate(seed, i, headerBytes);
            string path = Path.Combine(dir.Path, $"case{i % 16}{extension}");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
            var task = Task.Run(() =>
            {
                try { read(path); return (Exception?)null; }
                catch (Exception e) { return e; }
            });
            string saved = Path.Combine(Path.GetTempPath(), $"fuzz-{name}-{i}{extension.Replace('/', '_')}");
            if (!task.Wait(budget))
            {
                File.WriteAllBytes(saved, bytes);
                throw new Xunit.Sdk.XunitException(
                    $"{name}: case {i} did not finish within {budget.TotalSeconds}s (hang?); input saved to {saved}");
            }
            switch (task.Result)
            {
                case null: accepted++; break;
                case UserInputException: rejected++; break;
                case var e:
                    File.WriteAllBytes(saved, bytes);
                    throw new Xunit.Sdk.XunitException(
                        $"{name}: case {i} raised {e!.GetType().Name} instead of a clear input error: {e.Message}\n" +
                        $"(input saved to {saved})\n{e}");
            }
        }
        log?.WriteLine(
            $"fuzz {name}: {cases} mutated inputs, {rejected} rejected with a clear error, {accepted} accepted");
        Console.WriteLine(
            $"fuzz {name}: {cases} mutated inputs, {rejected} rejected with a clear error, {accepted} accepted");
        return new Result(cases, rejected, accepted);
    }
}
