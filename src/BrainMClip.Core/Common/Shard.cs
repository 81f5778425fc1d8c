namespace BrainMClip;

/// <summary>
/// One of <see cref="Count"/> contiguous blocks of work (<c>--shard i/n</c>, 0-based), as a cluster array job
/// splits it; block i of a total T covers [T·i/n, T·(i+1)/n), so the blocks tile the range exactly.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard Whole = new(0, 1);

    public bool IsWhole => Count == 1;

    /// <summary>Parses "i/n" with 0 ≤ i &lt; n (e.g. <c>$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT</c>).</summary>
    public static Shard Parse(string s)
    {
        var parts = s.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int i) && int.TryParse(parts[1], out int n)
            && n > 0 && i >= 0 && i < n)
            return new Shard(i, n);
        throw UserInputException.Invalid("Shard", $"shard '{s}': expected i/n with 0 <= i < n, e.g. 0/4");
    }

    /// <summary>This block's [Start, End) of <paramref name="total"/> items (empty if items &lt; shards).</summary>
    public (int Start, int End) Range(int total) =>
        ((int)((long)total * Index / Count), (int)((long)total * (Index + 1) / Count));

    public override string ToString() => $"{Index}/{Count}";
}
