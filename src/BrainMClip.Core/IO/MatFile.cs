using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace BrainMClip.IO;

/// <summary>
/// One numeric variable of a MAT file: MATLAB's dims and class, values converted to double in C (row-major) order,
/// i.e. element (i, j) of a 2-D matrix is <c>Values[i * Dims[1] + j]</c> (MATLAB itself stores columns first).
/// </summary>
public sealed class MatVariable
{
    public required string File { get; init; }
    public required string Name { get; init; }
    /// <summary>MATLAB's dims, at least two (a row vector is [1, n]).</summary>
    public required int[] Dims { get; init; }
    /// <summary>MATLAB class name: double, single, int8 ... uint64 (logical arrays report uint8).</summary>
    public required string Class { get; init; }
    public required double[] Values { get; init; }

    public int Count => Values.Length;

    /// <summary>The values as integers, checked: every value must be a whole number in [<paramref name="min"/>,
    /// <paramref name="max"/>] and the variable must have <paramref name="count"/> elements.</summary>
    public int[] ToInt32(int count, long min, long max, string what)
    {
        if (Count != count)
            throw new UserInputException(
                $"{File}: variable '{Name}' has {Count} elements (dims {string.Join("×", Dims)}); {what} needs " +
                $"{count}");
        var r = new int[count];
        for (int i = 0; i < count; i++)
        {
            double v = Values[i];
            if (v != Math.Floor(v) || v < min || v > max)
                throw new UserInputException(
                    $"{File}: variable '{Name}' element {i} (C order) is {v}; {what} needs whole numbers in " +
                    $"{min}..{max}");
            r[i] = (int)v;
        }
        return r;
    }
}

/// <summary>
/// A strict reader (and a minimal writer) of MATLAB level-5 MAT files (versions 5 to 7, the format
/// <c>scipy.io.savemat</c> writes), for real numeric arrays only: classes double, single, int8..uint64 stored in any
/// numeric element type, including "small data elements" and zlib-compressed (miCOMPRESSED) variables. Cells,
/// structs, objects, sparse, complex and char variables are listed but refused by name when asked for; v7.3 files
/// (HDF5) and v4 files are refused. Every length is checked against the bytes really present, so a truncated or
/// corrupt file is a <see cref="UserInputException"/> naming the file.
/// </summary>
public sealed class MatFile
{
    const int HeaderSize = 128;
    const uint MiInt8 = 1, MiUInt8 = 2, MiInt16 = 3, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiSingle = 7,
        MiDouble = 9, MiInt64 = 12, MiUInt64 = 13, MiMatrix = 14, MiCompressed = 15;
    // Deflate cannot expand more than ~1032:1; a compressed element claiming more is corrupt.
    const long MaxInflate = 1100;

    static readonly string[] ClassNames =
    [
        "", "cell", "struct", "object", "char", "sparse", "double", "single", "int8", "uint8", "int16", "uint16",
        "int32", "uint32", "int64", "uint64", "function handle", "opaque object",
    ];

    readonly Dictionary<string, MatVariable> _numeric = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);

    public string Path { get; }
    /// <summary>Every variable name in the file, in file order.</summary>
    public IReadOnlyList<string> Names { get; }

    MatFile(string path, List<string> names) { Path = path; Names = names; }

    static UserInputException Bad(string path, string what) => new($"{path}: invalid MAT file: {what}");

    /// <summary>Reads every variable of <paramref name="path"/> (numeric ones decoded, others noted).</summary>
    public static MatFile Read(string path)
    {
        UserInputException.RequireFile(path, "MAT file");
        byte[] bytes;
        try { bytes = System.IO.File.ReadAllBytes(path); }
        catch (IOException e) { throw Bad(path, $"read error ({e.Message})"); }
        bool big = CheckHeader(path, bytes);
        var names = new List<string>();
        var file = new MatFile(path, names);
        long pos = HeaderSize;
        while (pos < bytes.Length)
        {
            if (bytes.Length - pos < 8)
                throw Bad(path, $"{bytes.Length - pos} stray bytes at offset {pos} (truncated element tag?)");
            uint type = U32(bytes, pos, big);
            long n = U32(bytes, pos + 4, big);
            if (type >> 16 != 0) throw Bad(path, $"a top-level element at offset {pos} uses the small format");
            if (n > bytes.Length - pos - 8)
                throw Bad(path,
                    $"truncated: the element at offset {pos} claims {n} bytes but only {bytes.Length - pos - 8} " +
                    $"follow");
            var data = bytes.AsSpan((int)(pos + 8), (int)n);
            if (type == MiCompressed)
            {
                file.AddMatrix(Inflate(path, pos, data, big), big, pos);
                pos += 8 + n;
            }
            else if (type == MiMatrix)
            {
                file.AddMatrix(bytes.AsSpan((int)pos, (int)(8 + n)).ToArray(), big, pos);
                pos += 8 + Pad8(n);
            }
            else throw Bad(path,
                $"the element at offset {pos} has type {type}; expected 14 (matrix) or 15 (compressed)");
        }
        return file;
    }

    /// <summary>The numeric variable <paramref name="name"/>; <paramref name="expected"/> (e.g. "a 1×30000 matrix")
    /// goes into the message when it is missing or not numeric.</summary>
    public MatVariable Numeric(string name, string expected)
    {
        if (_numeric.TryGetValue(name, out var v)) return v;
        if (_refused.TryGetValue(name, out var why))
            throw new UserInputException($"{Path}: variable '{name}' is {why}; expected {expected}");
        throw new UserInputException(
            $"{Path}: variable '{name}' not found (expected {expected}; the file has: " +
            $"{(Names.Count == 0 ? "no variables" : string.Join(", ", Names))})");
    }

    static bool CheckHeader(string path, byte[] b)
    {
        if (b.Length < HeaderSize)
            throw Bad(path, $"only {b.Length} bytes; a MAT-file header needs {HeaderSize} (truncated?)");
        string text = Encoding.ASCII.GetString(b, 0, 116);
        if (b.Length >= 520 && b[512] == 0x89 && b[513] == (byte)'H' && b[514] == (byte)'D' && b[515] == (byte)'F')
            throw Bad(path, "this is a v7.3 MAT file (HDF5); save it with -v7 (or scipy.io.savemat) instead");
        bool big;
        if (b[126] == 'I' && b[127] == 'M') big = false;
        else if (b[126] == 'M' && b[127] == 'I') big = true;
        else throw Bad(path, "no level-5 endian indicator at byte 126 (a v4 MAT file, or not a MAT file)");
        int version = big ? BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(124))
            : BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(124));
        if (version == 0x0200 || text.StartsWith("MATLAB 7.3", StringComparison.Ordinal))
            throw Bad(path, "this is a v7.3 MAT file (HDF5); save it with -v7 (or scipy.io.savemat) instead");
        if (version != 0x0100) throw Bad(path, $"version 0x{version:x4}; expected 0x0100 (level 5)");
        if (!text.StartsWith("MATLAB", StringComparison.Ordinal))
            throw Bad(path, "the header text does not start with 'MATLAB'");
        return big;
    }

    /// <summary>The miMATRIX element (tag included) inside a compressed element.</summary>
    static byte[] Inflate(string path, long pos, ReadOnlySpan<byte> data, bool big)
    {
        try
        {
            using var z = new ZLibStream(new MemoryStream(data.ToArray()), CompressionMode.Decompress);
            var tag = new byte[8];
            z.ReadExactly(tag);
            long n = U32(tag, 4, big);
            if (n > (long)data.Length * MaxInflate + 64 || n > int.MaxValue - 16)
                throw Bad(path,
                    $"the compressed element at offset {pos} claims {n} bytes from {data.Length} compressed bytes");
            var full = new byte[8 + n];
            tag.CopyTo(full, 0);
            z.ReadExactly(full, 8, (int)n);
            return full;
        }
        catch (EndOfStreamException)
        {
            throw Bad(path, $"the compressed element at offset {pos} ends early (truncated or corrupt)");
        }
        catch (InvalidDataException e)
        {
            throw Bad(path, $"the compressed element at offset {pos} is not valid zlib data ({e.Message})");
        }
    }

    /// <summary>Reads one sub-element of a matrix at <paramref name="pos"/> (normal or small format) and moves past
    /// it and its padding.</summary>
    (uint Type, byte[] Data) Sub(byte[] m, ref long pos, bool big, long at, string what)
    {
        if (m.Length - pos < 8) throw Bad(Path, $"matrix at offset {at}: {what} is missing (truncated element)");
        uint first = U32(m, pos, big);
        if (first >> 16 != 0)
        {
            // Small data element: type in the low 16 bits, byte count in the high 16, data in the next 4 bytes.
            int sn = (int)(first >> 16);
            if (sn > 4) throw Bad(Path, $"matrix at offset {at}: {what} claims {sn} bytes in the small format");
            var small = m.AsSpan((int)pos + 4, sn).ToArray();
            pos += 8;
            return (first & 0xFFFF, small);
        }
        long n = U32(m, pos + 4, big);
        if (n > m.Length - pos - 8)
            throw Bad(Path, $"matrix at offset {at}: {what} claims {n} bytes but only {m.Length - pos - 8} follow");
        var data = m.AsSpan((int)(pos + 8), (int)n).ToArray();
        pos += 8 + Pad8(n);
        return (first, data);
    }

    void AddMatrix(byte[] m, bool big, long at)
    {
        if (U32(m, 0, big) != MiMatrix)
            throw Bad(Path, $"the compressed element at offset {at} does not hold a matrix");
        long pos = 8;
        if (m.Length == 8) return; // an empty matrix element (MATLAB writes these for empty cells): nothing to list
        var (ft, flags) = Sub(m, ref pos, big, at, "array flags");
        if (ft != MiUInt32 || flags.Length != 8) throw Bad(Path, $"matrix at offset {at}: array flags are malformed");
        uint f0 = U32(flags, 0, big);
        int cls = (int)(f0 & 0xFF);
        bool complex = (f0 & 0x0800) != 0;
        var (dt, dimBytes) = Sub(m, ref pos, big, at, "dimensions");
        if (dt != MiInt32 || dimBytes.Length < 8 || dimBytes.Length % 4 != 0)
            throw Bad(Path, $"matrix at offset {at}: dimensions are malformed (expected 2 or more int32)");
        var dims = new int[dimBytes.Length / 4];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = (int)U32(dimBytes, 4 * i, big);
            if (dims[i] < 0) throw Bad(Path, $"matrix at offset {at}: dimension {i} is {dims[i]}");
        }
        var (nt, nameBytes) = Sub(m, ref pos, big, at, "array name");
        if (nt != MiInt8 && nt != MiUInt8) throw Bad(Path, $"matrix at offset {at}: the array name is not text");
        string name = Encoding.ASCII.GetString(nameBytes);
        if (_numeric.ContainsKey(name) || _refused.ContainsKey(name))
            throw Bad(Path, $"variable '{name}' appears twice");
        ((List<string>)Names).Add(name);
        string clsName = cls < ClassNames.Length && cls > 0 ? ClassNames[cls] : $"class {cls}";
        if (cls is < 6 or > 15) { _refused[name] = $"a {clsName} array (only numeric matrices are read)"; return; }
        if (complex) { _refused[name] = $"a complex {clsName} array (only real matrices are read)"; return; }
        var (vt, raw) = Sub(m, ref pos, big, at, $"the values of '{name}'");
        long count = dims.Aggregate(1L, (a, b) => a * b);
        var colMajor = Decode(raw, vt, big, count, name);
        _numeric[name] = new MatVariable
        {
            File = Path,
            Name = name,
            Dims = dims,
            Class = clsName,
            Values = ToCOrder(colMajor, dims),
        };
    }

    static int ElementSize(uint t) => t switch
    {
        MiInt8 or MiUInt8 => 1,
        MiInt16 or MiUInt16 => 2,
        MiInt32 or MiUInt32 or MiSingle => 4,
        MiDouble or MiInt64 or MiUInt64 => 8,
        _ => 0,
    };

    double[] Decode(byte[] raw, uint t, bool big, long count, string name)
    {
        int es = ElementSize(t);
        if (es == 0) throw Bad(Path, $"variable '{name}': values have element type {t}, which is not numeric");
        if (raw.Length != count * es)
            throw Bad(Path,
                $"variable '{name}': {raw.Length} value bytes for {count} elements of {es} bytes (truncated or " +
                $"corrupt)");
        var r = new double[count];
        var s = raw.AsSpan();
        for (int i = 0; i < r.Length; i++)
        {
            var e = s.Slice(i * es, es);
            r[i] = t switch
            {
                MiInt8 => (sbyte)e[0],
                MiUInt8 => e[0],
                MiInt16 => big ? BinaryPrimitives.ReadInt16BigEndian(e) : BinaryPrimitives.ReadInt16LittleEndian(e),
                MiUInt16 => big ? BinaryPrimitives.ReadUInt16BigEndian(e) : BinaryPrimitives.ReadUInt16LittleEndian(e),
                MiInt32 => big ? BinaryPrimitives.ReadInt32BigEndian(e) : BinaryPrimitives.ReadInt32LittleEndian(e),
                MiUInt32 => big ? BinaryPrimitives.ReadUInt32BigEndian(e) : BinaryPrimitives.ReadUInt32LittleEndian(e),
                MiSingle => big ? BinaryPrimitives.ReadSingleBigEndian(e) : BinaryPrimitives.ReadSingleLittleEndian(e),
                MiDouble => big ? BinaryPrimitives.ReadDoubleBigEndian(e) : BinaryPrimitives.ReadDoubleLittleEndian(e),
                MiInt64 => Exact(big ? BinaryPrimitives.ReadInt64BigEndian(e)
                    : BinaryPrimitives.ReadInt64LittleEndian(e), name),
                _ => Exact(big ? BinaryPrimitives.ReadUInt64BigEndian(e)
                    : BinaryPrimitives.ReadUInt64LittleEndian(e), name),
            };
        }
        return r;
    }

    /// <summary>64-bit integers are kept only when a double holds them exactly (|v| ≤ 2^53).</summary>
    double Exact(Int128 v, string name) => Int128.Abs(v) <= (Int128)(1L << 53)
        ? (double)v
        : throw Bad(Path, $"variable '{name}' holds the 64-bit integer {v}, beyond what this reader keeps exactly");

    /// <summary>MATLAB's column-major order (first index fastest) to C order (last index fastest).</summary>
    static double[] ToCOrder(double[] col, int[] dims)
    {
        int nd = dims.Length;
        var r = new double[col.Length];
        var idx = new int[nd];
        for (long c = 0; c < col.Length; c++)
        {
            long dst = 0;
            for (int k = 0; k < nd; k++) dst = dst * dims[k] + idx[k];
            r[dst] = col[c];
            for (int k = 0; k < nd && ++idx[k] == dims[k]; k++) idx[k] = 0;
        }
        return r;
    }

    static uint U32(byte[] b, long o, bool big) => big
        ? BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan((int)o))
        : BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)o));

    static long Pad8(long n) => (n + 7) & ~7L;

    /// <summary>
    /// Writes a little-endian level-5 MAT file atomically holding real double matrices (dims and C-order values),
    /// each as a zlib-compressed element when <paramref name="compress"/> (as MATLAB's default -v7 does).
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, int[] Dims, double[] Values)> variables,
        bool compress = true)
    {
        var ms = new MemoryStream();
        var text = Encoding.ASCII.GetBytes(
            $"MATLAB 5.0 MAT-file, Platform: BrainMClip, Created on: {DateTime.UtcNow:ddd MMM d HH:mm:ss yyyy}");
        var header = new byte[HeaderSize];
        Array.Fill(header, (byte)' ', 0, 116);
        text.AsSpan(0, Math.Min(116, text.Length)).CopyTo(header);
        Array.Clear(header, 116, 8);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(124), 0x0100);
        header[126] = (byte)'I'; header[127] = (byte)'M';
        ms.Write(header);
        foreach (var (name, dims, values) in variables)
        {
            var element = MatrixElement(name, dims, values);
            if (!compress) { ms.Write(element); continue; }
            var zs = new MemoryStream();
            using (var z = new ZLibStream(zs, CompressionLevel.Optimal, leaveOpen: true)) z.Write(element);
            WriteTag(ms, MiCompressed, (int)zs.Length);
            ms.Write(zs.ToArray());
        }
        AtomicFile.WriteAllBytes(path, ms.ToArray());
    }

    static byte[] MatrixElement(string name, int[] dims, double[] values)
    {
        if (dims.Length < 2 || dims.Aggregate(1L, (a, b) => a * b) != values.Length)
            throw new ArgumentException($"'{name}': dims {string.Join("×", dims)} do not match {values.Length} values");
        var body = new MemoryStream();
        var flags = new byte[8];
        flags[0] = 6; // class double, no flags
        WriteSub(body, MiUInt32, flags);
        var d = new byte[4 * dims.Length];
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(4 * i), dims[i]);
        WriteSub(body, MiInt32, d);
        WriteSub(body, MiInt8, Encoding.ASCII.GetBytes(name));
        // C order to column-major: reverse the dims, transpose via the reader's own index walk.
        var rev = dims.Reverse().ToArray();
        var col = ToCOrder(values, rev); // C order over dims == column-major over reversed dims
        var v = new byte[8 * col.Length];
        for (int i = 0; i < col.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(v.AsSpan(8 * i), col[i]);
        WriteSub(body, MiDouble, v);
        var el = new MemoryStream();
        WriteTag(el, MiMatrix, (int)body.Length);
        el.Write(body.ToArray());
        return el.ToArray();
    }

    static void WriteSub(Stream s, uint type, byte[] data)
    {
        WriteTag(s, type, data.Length);
        s.Write(data);
        s.Write(new byte[Pad8(data.Length) - data.Length]);
    }

    static void WriteTag(Stream s, uint type, int n)
    {
        var t = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(t, type);
        BinaryPrimitives.WriteInt32LittleEndian(t.AsSpan(4), n);
        s.Write(t);
    }
}
