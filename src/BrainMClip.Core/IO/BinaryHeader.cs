namespace BrainMClip.IO;

/// <summary>
/// What the .npy and .safetensors readers share: the file must exist, its length-prefixed header must fit the file
/// (checked before a byte of it is allocated), and a shape's byte count is computed with overflow checks. Each
/// reader keeps its own header grammar and its own error wording.
/// </summary>
static class BinaryHeader
{
    /// <summary>Opens <paramref name="path"/> (missing: bad input naming it as <paramref name="what"/>) and parses
    /// its header with <paramref name="parse"/>.</summary>
    public static T Read<T>(string path, string what, Func<FileStream, T> parse)
    {
        UserInputException.RequireFile(path, what);
        using var fs = File.OpenRead(path);
        return parse(fs);
    }

    /// <summary>The <paramref name="length"/> header bytes that follow the <paramref name="prefix"/> bytes already
    /// read, or null when the length is 0, above <paramref name="max"/> or beyond the end of the file.</summary>
    public static byte[]? ReadBlock(Stream s, long prefix, ulong length, ulong max)
    {
        if (length == 0 || length > max || length > (ulong)Math.Max(0, s.Length - prefix)) return null;
        var block = new byte[length];
        s.ReadExactly(block);
        return block;
    }

    /// <summary>Bytes of an array of <paramref name="shape"/> with <paramref name="elementSize"/>-byte elements
    /// (<see cref="OverflowException"/> when that does not fit a long).</summary>
    public static long ByteCount(IEnumerable<long> shape, int elementSize)
    {
        long count = 1;
        foreach (var d in shape) count = checked(count * d);
        return checked(count * elementSize);
    }
}
