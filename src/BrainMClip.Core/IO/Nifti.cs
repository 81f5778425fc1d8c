using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.InteropServices;

namespace BrainMClip.IO;

/// <summary>NIfTI-1 datatype codes we read (and write).</summary>
public enum NiftiDataType : short
{
    UInt8 = 2, Int16 = 4, Int32 = 8, Float32 = 16, Float64 = 64, Int8 = 256, UInt16 = 512, UInt32 = 768,
}

/// <summary>
/// A 3-D NIfTI-1 volume. <see cref="Values"/> holds the scaled voxel values (raw·scl_slope + scl_inter) in
/// C order over [x,y,z] — z varies fastest — which is the order docs/data.md uses for voxel vectors
/// (NIfTI itself stores x fastest).
/// </summary>
public sealed class NiftiVolume
{
    public required string Path { get; init; }
    /// <summary>[nx, ny, nz].</summary>
    public required int[] Shape { get; init; }
    public required double[] Values { get; init; }
    public required NiftiDataType DataType { get; init; }
    /// <summary>The scaling applied (1 and 0 when the header says none).</summary>
    public double Slope { get; init; } = 1;
    public double Intercept { get; init; }
    public bool BigEndian { get; init; }
    public float[] PixDim { get; init; } = [1, 1, 1];

    public int Count => Values.Length;

    /// <summary>C-order index of voxel (x, y, z).</summary>
    public int Index(int x, int y, int z) => (x * Shape[1] + y) * Shape[2] + z;

    public double this[int x, int y, int z] => Values[Index(x, y, z)];
}

/// <summary>
/// NIfTI-1 single-file volumes (<c>.nii</c>, <c>.nii.gz</c>): reader for both byte orders and the common integer
/// and float datatypes, and a little-endian writer. Every header field is checked against the bytes really present,
/// so a truncated or corrupt file is a <see cref="UserInputException"/> naming the file, not a crash.
/// </summary>
public static class Nifti
{
    const int HeaderSize = 348;
    // Hard cap on one volume (2 GiB of voxel data): well above any functional or anatomical NSD volume.
    const long MaxDataBytes = int.MaxValue;

    public static int ElementSize(NiftiDataType t) => t switch
    {
        NiftiDataType.UInt8 or NiftiDataType.Int8 => 1,
        NiftiDataType.Int16 or NiftiDataType.UInt16 => 2,
        NiftiDataType.Int32 or NiftiDataType.UInt32 or NiftiDataType.Float32 => 4,
        NiftiDataType.Float64 => 8,
        _ => 0,
    };

    internal static UserInputException Bad(string path, string what) => new($"{path}: invalid NIfTI-1 file: {what}");

    public static NiftiVolume Read(string path)
    {
        UserInputException.RequireFile(path, "NIfTI file");
        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        try
        {
            using var fs = File.OpenRead(path);
            if (gz)
            {
                var magic = new byte[2];
                if (fs.Read(magic, 0, 2) < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
                    throw Bad(path, "the name ends in .gz but the file is not gzip-compressed");
                fs.Seek(0, SeekOrigin.Begin);
                using var z = new GZipStream(fs, CompressionMode.Decompress);
                return Parse(z, path, compressedLength: fs.Length, fileLength: null);
            }
            return Parse(fs, path, compressedLength: null, fileLength: fs.Length);
        }
        catch (InvalidDataException e) { throw Bad(path, $"corrupt gzip stream ({e.Message})"); }
        catch (EndOfStreamException) { throw Bad(path, "unexpected end of data (truncated file?)"); }
        catch (IOException e) when (e is not FileNotFoundException) { throw Bad(path, $"read error ({e.Message})"); }
    }

    /// <summary>Reads up to <paramref name="count"/> bytes; returns how many were read (fewer only at end of
    /// stream).</summary>
    internal static int ReadUpTo(Stream s, byte[] buf, int offset, int count)
    {
        int total = 0;
        while (total < count)
        {
            int n = s.Read(buf, offset + total, count - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>The checked header fields both readers need.</summary>
    internal sealed record Fields(short[] Dim, NiftiDataType DType, int ElementSize, long VoxOffset, double Slope,
        double Intercept, bool BigEndian, float[] PixDim);

    /// <summary>Reads and checks the header; <paramref name="series"/> accepts 4-D (X×Y×Z×T) files.</summary>
    internal static Fields ParseFields(Stream s, string path, bool series)
    {
        var (h, big) = ReadHeader(s, path);

        short I16(int o) =>
            big ? BinaryPrimitives.ReadInt16BigEndian(h.AsSpan(o)) : BinaryPrimitives.ReadInt16LittleEndian(
            h.AsSpan(o));
        float F32(int o) =>
            big ? BinaryPrimitives.ReadSingleBigEndian(h.AsSpan(o)) : BinaryPrimitives.ReadSingleLittleEndian(
            h.AsSpan(o));

        var dim = new short[8];
        for (int i = 0; i < 8; i++) dim[i] = I16(40 + 2 * i);
        CheckDims(path, dim, series);

        var dtype = (NiftiDataType)I16(70);
        int esize = ElementSize(dtype);
        if (esize == 0)
            throw Bad(path,
                $"unsupported datatype code {(short)dtype} (supported: uint8, int8, int16, uint16, int32, uint32, " +
                $"float32, float64)");
        short bitpix = I16(72);
        if (bitpix != 0 && bitpix != 8 * esize) throw Bad(path,
            $"bitpix {bitpix} does not match datatype {dtype} ({8 * esize} bits)");

        float voxOffsetF = F32(108);
        if (!float.IsFinite(voxOffsetF) || voxOffsetF < HeaderSize || voxOffsetF > 1e9
            || voxOffsetF != Math.Floor(voxOffsetF))
            throw Bad(path, $"vox_offset {voxOffsetF} is invalid (expected a whole number ≥ 348)");

        double slope = F32(112), inter = F32(116);
        // NIfTI: slope 0 means "no scaling"; nibabel treats NaN/inf the same way.
        if (slope == 0 || !double.IsFinite(slope)) { slope = 1; inter = 0; }
        if (!double.IsFinite(inter)) inter = 0;
        return new Fields(dim, dtype, esize, (long)voxOffsetF, slope, inter, big, [F32(80), F32(84), F32(88)]);
    }

    static NiftiVolume Parse(Stream s, string path, long? compressedLength, long? fileLength)
    {
        var f = ParseFields(s, path, series: false);
        var dim = f.Dim;
        var dtype = f.DType;
        int esize = f.ElementSize;
        long voxOffset = f.VoxOffset;
        bool big = f.BigEndian;
        double slope = f.Slope, inter = f.Intercept;
        int nx = dim[1], ny = dim[2], nz = dim[3];
        long count = (long)nx * ny * nz;
        long dataBytes = count * esize;
        if (fileLength is { } fl && voxOffset + dataBytes > fl)
            throw Bad(path,
                $"truncated: dims {nx}×{ny}×{nz} {dtype} need {dataBytes} data bytes after vox_offset {voxOffset}, " +
                $"but the file has {fl} bytes");
        if (dataBytes > MaxDataBytes) throw Bad(path,
            $"dims {nx}×{ny}×{nz} of {dtype} need {dataBytes} bytes, more than this reader supports");

        // Skip header extensions up to vox_offset, then read the voxel data; both must really be there.
        SkipExtensions(s, path, voxOffset);
        byte[] raw = ReadData(s, dataBytes, fileLength is not null, compressedLength, Truncated);
        UserInputException Truncated(long total)
        {
            string kind = compressedLength is
            { } cl ? $"the decompressed data (from {cl} compressed bytes)" : "the file";
            return Bad(path,
                $"truncated: dims {nx}×{ny}×{nz} {dtype} need {dataBytes} data bytes after vox_offset {voxOffset}, " +
                $"but {kind} holds only {total}");
        }

        var values = Decode(raw, dtype, big, nx, ny, nz, slope, inter);

        var pix = f.PixDim;
        return new NiftiVolume
        {
            Path = path,
            Shape = [nx, ny, nz],
            Values = values,
            DataType = dtype,
            Slope = slope,
            Intercept = inter,
            BigEndian = big,
            PixDim = pix,
        };
    }

    /// <summary>The 348 header bytes, their byte order (from sizeof_hdr) and a checked single-file magic.</summary>
    static (byte[] Header, bool BigEndian) ReadHeader(Stream s, string path)
    {
        var h = new byte[HeaderSize];
        int got = ReadUpTo(s, h, 0, HeaderSize);
        if (got < HeaderSize) throw Bad(path, $"only {got} bytes; a NIfTI-1 header needs {HeaderSize} (truncated?)");

        bool big;
        if (BinaryPrimitives.ReadInt32LittleEndian(h) == HeaderSize) big = false;
        else if (BinaryPrimitives.ReadInt32BigEndian(h) == HeaderSize) big = true;
        else throw Bad(path,
            $"sizeof_hdr is {BinaryPrimitives.ReadInt32LittleEndian(h)}, expected 348 (NIfTI-2 and Analyze files are " +
            $"not supported)");
        string magic = System.Text.Encoding.ASCII.GetString(h, 344, 3);
        if (magic == "ni1") throw Bad(path,
            "this is the header of a .hdr/.img pair; only single-file .nii/.nii.gz is supported");
        if (magic != "n+1") throw Bad(path, $"magic is '{magic.Replace("\0", "\\0")}', expected 'n+1'");
        return (h, big);
    }

    static void CheckDims(string path, short[] dim, bool series)
    {
        int ndim = dim[0];
        if (ndim < 1 || ndim > 7) throw Bad(path, $"dim[0] = {ndim}, expected 1..7");
        for (int i = 1; i <= ndim; i++)
            if (dim[i] < 1) throw Bad(path, $"dim[{i}] = {dim[i]}; every used dimension must be ≥ 1");
        if (ndim < 3) throw Bad(path, $"a 3-D volume is expected but dim[0] = {ndim}");
        if (series && ndim < 4) throw Bad(path, $"a 4-D series (X×Y×Z×T) is expected but dim[0] = {ndim}");
        for (int i = series ? 5 : 4; i <= ndim; i++)
            if (dim[i] != 1)
                throw Bad(path, series
                    ? $"a 4-D series is expected but the file is {ndim}-D with dim[{i}] = {dim[i]}"
                    : $"a 3-D volume is expected but the file is {ndim}-D with dim[{i}] = {dim[i]}");
    }

    /// <summary>Skips the header extensions between the header and vox_offset; they must really be there.</summary>
    internal static void SkipExtensions(Stream s, string path, long voxOffset)
    {
        long skip = voxOffset - HeaderSize;
        var scratch = new byte[Math.Max(1, Math.Min(skip, 1 << 16))];
        long skipped = 0;
        while (skipped < skip)
        {
            int n = ReadUpTo(s, scratch, 0, (int)Math.Min(scratch.Length, skip - skipped));
            if (n == 0) break;
            skipped += n;
        }
        if (skipped < skip) throw Bad(path, $"vox_offset {voxOffset} lies beyond the end of the data (truncated?)");
    }

    /// <summary>
    /// The voxel bytes. The buffer is allocated at once only when the bytes can really be there: on disk for .nii,
    /// and for .nii.gz within deflate's maximum expansion (1032:1) of the compressed size. Otherwise it is read in
    /// chunks, so absurd dims on a small file fail on the real size instead of allocating first.
    /// </summary>
    static byte[] ReadData(Stream s, long dataBytes, bool onDisk, long? compressedLength,
        Func<long, UserInputException> truncated)
    {
        const long MaxDeflateRatio = 1032;
        bool plausible = onDisk || (compressedLength is { } cz && dataBytes <= cz * MaxDeflateRatio);
        if (plausible)
        {
            var raw = GC.AllocateUninitializedArray<byte>((int)dataBytes);
            int n = ReadUpTo(s, raw, 0, raw.Length);
            if (n < raw.Length) throw truncated(n);
            return raw;
        }
        var chunks = new List<byte[]>();
        long have = 0;
        while (have < dataBytes)
        {
            var c = new byte[(int)Math.Min(dataBytes - have, 1 << 22)];
            int n = ReadUpTo(s, c, 0, c.Length);
            if (n < c.Length) throw truncated(have + n);
            chunks.Add(c);
            have += n;
        }
        return chunks.Count == 1 ? chunks[0] : Concat(chunks, dataBytes);
    }

    static byte[] Concat(List<byte[]> chunks, long total)
    {
        var r = new byte[total];
        long o = 0;
        foreach (var c in chunks) { c.CopyTo(r, o); o += c.Length; }
        return r;
    }

    /// <summary>
    /// Scales the raw voxels and reorders them from the file's x-fastest order to our z-fastest C order. The bytes are
    /// first brought to host order in place, then one typed pass per datatype transposes in cache-sized tiles (an
    /// element-wise strided scatter was 2.5× slower on a 200×240×200 volume; bench/RESULTS.md).
    /// </summary>
    static double[] Decode(byte[] raw, NiftiDataType t, bool big, int nx, int ny, int nz, double slope, double inter)
    {
        int esize = ElementSize(t);
        if (big == BitConverter.IsLittleEndian && esize > 1) SwapBytes(raw, esize);
        var values = GC.AllocateUninitializedArray<double>(checked(nx * ny * nz));
        switch (t)
        {
            case NiftiDataType.UInt8: Transpose<byte>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.Int8: Transpose<sbyte>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.Int16: Transpose<short>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.UInt16: Transpose<ushort>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.Int32: Transpose<int>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.UInt32: Transpose<uint>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.Float32: Transpose<float>(raw, values, nx, ny, nz, slope, inter); break;
            case NiftiDataType.Float64: Transpose<double>(raw, values, nx, ny, nz, slope, inter); break;
            default: throw new InvalidOperationException($"unhandled datatype {t}");
        }
        return values;
    }

    internal static void SwapBytes(byte[] raw, int esize)
    {
        switch (esize)
        {
            case 2:
                BinaryPrimitives.ReverseEndianness(
                (ReadOnlySpan<ushort>)MemoryMarshal.Cast<byte, ushort>(raw.AsSpan()),
                MemoryMarshal.Cast<byte, ushort>(raw.AsSpan())); break;
            case 4:
                BinaryPrimitives.ReverseEndianness((ReadOnlySpan<uint>)MemoryMarshal.Cast<byte, uint>(raw.AsSpan()),
                MemoryMarshal.Cast<byte, uint>(raw.AsSpan())); break;
            case 8:
                BinaryPrimitives.ReverseEndianness(
                (ReadOnlySpan<ulong>)MemoryMarshal.Cast<byte, ulong>(raw.AsSpan()),
                MemoryMarshal.Cast<byte, ulong>(raw.AsSpan())); break;
        }
    }

    /// <summary>values[(x·ny + y)·nz + z] = src[(z·ny + y)·nx + x]·slope + inter, in tiles of 32×32 (x, z) per
    /// y.</summary>
    static void Transpose<T>(byte[] raw, double[] values, int nx, int ny, int nz, double slope, double inter)
        where T : unmanaged, INumberBase<T>
    {
        const int B = 32;
        // y-planes are independent; two threads halve the pass on large volumes (small ones stay on one thread).
        var options = new ParallelOptions
        { MaxDegreeOfParallelism = (long)nx * ny * nz >= 1 << 20 ? Environment.ProcessorCount : 1 };
        Parallel.For(0, ny, options, y =>
        {
            ReadOnlySpan<T> src = MemoryMarshal.Cast<byte, T>(raw);
            for (int z0 = 0; z0 < nz; z0 += B)
                for (int x0 = 0; x0 < nx; x0 += B)
                {
                    int z1 = Math.Min(nz, z0 + B), x1 = Math.Min(nx, x0 + B);
                    for (int x = x0; x < x1; x++)
                    {
                        long dst = ((long)x * ny + y) * nz;
                        for (int z = z0; z < z1; z++)
                            values[dst + z] = double.CreateTruncating(src[(int)(((long)z * ny + y) * nx + x)]) * slope
                                + inter;
                    }
                }
        });
    }

    /// <summary>
    /// Writes a little-endian single-file NIfTI-1 volume atomically; gzip-compressed when the name ends in <c>.gz</c>.
    /// <paramref name="values"/> are in C order over [x,y,z] (as returned by <see cref="Read"/>) and are stored
    /// unscaled (slope 0) after rounding for integer datatypes; an affine with voxel size <paramref name="voxelSize"/>
    /// is written as both qform and sform (code 1, scanner).
    /// </summary>
    public static void Write(string path, int[] shape, ReadOnlySpan<double> values, NiftiDataType dtype,
        float voxelSize = 1.8f)
    {
        if (shape.Length != 3 || shape.Any(d => d < 1 || d > short.MaxValue))
            throw new ArgumentException("shape must be [nx, ny, nz] with 1 ≤ n ≤ 32767", nameof(shape));
        int nx = shape[0], ny = shape[1], nz = shape[2];
        long count = (long)nx * ny * nz;
        if (values.Length != count) throw new ArgumentException(
            $"values has {values.Length} entries; shape needs {count}");
        int esize = ElementSize(dtype);
        if (esize == 0) throw new ArgumentException($"unsupported datatype {dtype}");

        var h = BuildHeader(nx, ny, nz, 1, dtype, voxelSize);

        var data = new byte[count * esize];
        var ds = data.AsSpan();
        int dst = 0;
        for (int z = 0; z < nz; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++, dst++)
                    WriteValue(ds, dst, dtype, values[(int)(((long)x * ny + y) * nz + z)]);

        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        AtomicFile.Write(path, s =>
        {
            if (gz)
            {
                using var z = new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true);
                z.Write(h); z.Write(data);
            }
            else { s.Write(h); s.Write(data); }
        });
    }

    /// <summary>
    /// Writes a little-endian 4-D NIfTI-1 series (X×Y×Z×T) atomically, gzip-compressed when the name ends in
    /// <c>.gz</c>, one volume at a time: <paramref name="volume"/>(t) returns volume t in C order over [x,y,z].
    /// </summary>
    public static void WriteSeries(string path, int[] shape, int volumes, Func<int, double[]> volume,
        NiftiDataType dtype, float voxelSize = 1.8f)
    {
        if (shape.Length != 3 || shape.Any(d => d < 1 || d > short.MaxValue) || volumes < 1
            || volumes > short.MaxValue)
            throw new ArgumentException("shape must be [nx, ny, nz] and volumes 1..32767", nameof(shape));
        int nx = shape[0], ny = shape[1], nz = shape[2], esize = ElementSize(dtype);
        var h = BuildHeader(nx, ny, nz, volumes, dtype, voxelSize);
        var data = new byte[(long)nx * ny * nz * esize];
        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        AtomicFile.Write(path, s =>
        {
            using var z = gz ? new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true) : null;
            Stream o = (Stream?)z ?? s;
            o.Write(h);
            for (int t = 0; t < volumes; t++)
            {
                var values = volume(t);
                if (values.Length != data.Length / esize)
                    throw new ArgumentException(
                        $"volume {t} has {values.Length} values; shape needs {data.Length / esize}");
                int dst = 0;
                for (int zz = 0; zz < nz; zz++)
                    for (int y = 0; y < ny; y++)
                        for (int x = 0; x < nx; x++, dst++)
                            WriteValue(data, dst, dtype, values[(x * ny + y) * nz + zz]);
                o.Write(data);
            }
        });
    }

    /// <summary>A little-endian NIfTI-1 header (plus the empty extension flag) for X×Y×Z(×T) data, unscaled, with an
    /// affine of voxel size <paramref name="voxelSize"/> as both qform and sform.</summary>
    static byte[] BuildHeader(int nx, int ny, int nz, int nt, NiftiDataType dtype, float voxelSize)
    {
        int esize = ElementSize(dtype);
        var h = new byte[352]; // header + 4-byte extension flag (all zero: no extensions)
        var hs = h.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(hs, HeaderSize);
        h[38] = (byte)'r'; // regular = 'r' (Analyze legacy field; nibabel writes it too)
        short[] dim = [(short)(nt > 1 ? 4 : 3), (short)nx, (short)ny, (short)nz, (short)nt, 1, 1, 1];
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(hs[(40 + 2 * i)..], dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(hs[70..], (short)dtype);
        BinaryPrimitives.WriteInt16LittleEndian(hs[72..], (short)(8 * esize));
        float[] pixdim = [1, voxelSize, voxelSize, voxelSize, 1, 1, 1, 1];
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteSingleLittleEndian(hs[(76 + 4 * i)..], pixdim[i]);
        BinaryPrimitives.WriteSingleLittleEndian(hs[108..], 352f); // vox_offset
        BinaryPrimitives.WriteSingleLittleEndian(hs[112..], 0f);   // scl_slope: none
        BinaryPrimitives.WriteSingleLittleEndian(hs[116..], 0f);
        h[123] = 2 | 8; // xyzt_units: mm, sec
        var descrip = "BrainMClip"u8;
        descrip.CopyTo(hs[148..]);
        BinaryPrimitives.WriteInt16LittleEndian(hs[252..], 1); // qform_code
        BinaryPrimitives.WriteInt16LittleEndian(hs[254..], 1); // sform_code
        // qform: identity rotation (quatern b=c=d=0), offsets centre the grid; sform: the same affine.
        float ox = -voxelSize * (nx - 1) / 2f, oy = -voxelSize * (ny - 1) / 2f, oz = -voxelSize * (nz - 1) / 2f;
        BinaryPrimitives.WriteSingleLittleEndian(hs[268..], ox);
        BinaryPrimitives.WriteSingleLittleEndian(hs[272..], oy);
        BinaryPrimitives.WriteSingleLittleEndian(hs[276..], oz);
        float[] srow = [voxelSize, 0, 0, ox, 0, voxelSize, 0, oy, 0, 0, voxelSize, oz];
        for (int i = 0; i < 12; i++) BinaryPrimitives.WriteSingleLittleEndian(hs[(280 + 4 * i)..], srow[i]);
        "n+1\0"u8.CopyTo(hs[344..]);

        return h;
    }

    static void WriteValue(Span<byte> d, int i, NiftiDataType t, double v)
    {
        switch (t)
        {
            case NiftiDataType.UInt8: d[i] = checked((byte)Math.Round(v)); break;
            case NiftiDataType.Int8: d[i] = (byte)checked((sbyte)Math.Round(v)); break;
            case NiftiDataType.Int16:
                BinaryPrimitives.WriteInt16LittleEndian(d[(2 * i)..],
                checked((short)Math.Round(v))); break;
            case NiftiDataType.UInt16:
                BinaryPrimitives.WriteUInt16LittleEndian(d[(2 * i)..],
                checked((ushort)Math.Round(v))); break;
            case NiftiDataType.Int32:
                BinaryPrimitives.WriteInt32LittleEndian(d[(4 * i)..],
                checked((int)Math.Round(v))); break;
            case NiftiDataType.UInt32:
                BinaryPrimitives.WriteUInt32LittleEndian(d[(4 * i)..],
                checked((uint)Math.Round(v))); break;
            case NiftiDataType.Float32: BinaryPrimitives.WriteSingleLittleEndian(d[(4 * i)..], (float)v); break;
            case NiftiDataType.Float64: BinaryPrimitives.WriteDoubleLittleEndian(d[(8 * i)..], v); break;
        }
    }
}
