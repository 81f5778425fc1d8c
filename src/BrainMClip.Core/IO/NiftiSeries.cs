using System.IO.Compression;
using System.Numerics;
using System.Runtime.InteropServices;

namespace BrainMClip.IO;

/// <summary>
/// A 4-D NIfTI-1 series (X×Y×Z×T, e.g. one NSD session of single-trial betas) read one volume at a time, so a
/// session never has to fit in memory: on disk (and in a .nii.gz stream) each volume is a contiguous block with x
/// fastest. <see cref="ReadNext"/> gathers chosen voxels of the next volume; voxel (x, y, z) is at
/// <see cref="FileIndex"/> within a volume. Values are scaled (raw·slope + intercept) like <see cref="Nifti.Read"/>.
/// </summary>
public sealed class NiftiSeries : IDisposable
{
    readonly Stream _stream;
    readonly Stream? _file;
    readonly byte[] _raw;
    readonly long? _compressedLength;

    public string Path { get; }
    /// <summary>[nx, ny, nz] of one volume.</summary>
    public int[] Shape { get; }
    /// <summary>Number of volumes T.</summary>
    public int Volumes { get; }
    public NiftiDataType DataType { get; }
    public double Slope { get; }
    public double Intercept { get; }
    /// <summary>Volumes read so far.</summary>
    public int Position { get; private set; }

    public int VoxelsPerVolume => Shape[0] * Shape[1] * Shape[2];

    /// <summary>Index of voxel (x, y, z) inside one volume as stored (x fastest).</summary>
    public int FileIndex(int x, int y, int z) => (z * Shape[1] + y) * Shape[0] + x;

    NiftiSeries(string path, Stream stream, Stream? file, Nifti.Fields f, long? compressedLength)
    {
        Path = path; _stream = stream; _file = file; _compressedLength = compressedLength;
        Shape = [f.Dim[1], f.Dim[2], f.Dim[3]];
        Volumes = f.Dim[4];
        DataType = f.DType; Slope = f.Slope; Intercept = f.Intercept; BigEndian = f.BigEndian;
        _raw = new byte[checked((long)VoxelsPerVolume * f.ElementSize)];
    }

    bool BigEndian { get; }

    /// <summary>Opens <paramref name="path"/> (.nii or .nii.gz), checks the header and, for .nii, that every volume
    /// is on disk; a .nii.gz is checked volume by volume as it is read.</summary>
    public static NiftiSeries Open(string path)
    {
        UserInputException.RequireFile(path, "NIfTI series");
        var fs = File.OpenRead(path);
        Stream s = fs;
        try
        {
            bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
            if (gz)
            {
                var magic = new byte[2];
                if (fs.Read(magic, 0, 2) < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
                    throw Nifti.Bad(path, "the name ends in .gz but the file is not gzip-compressed");
                fs.Seek(0, SeekOrigin.Begin);
                s = new GZipStream(fs, CompressionMode.Decompress);
            }
            var f = Nifti.ParseFields(s, path, series: true);
            long volBytes = (long)f.Dim[1] * f.Dim[2] * f.Dim[3] * f.ElementSize;
            long need = f.VoxOffset + volBytes * f.Dim[4];
            if (!gz && need > fs.Length)
                throw Nifti.Bad(path,
                    $"truncated: {f.Dim[1]}×{f.Dim[2]}×{f.Dim[3]}×{f.Dim[4]} {f.DType} needs {need} bytes but the " +
                    $"file has {fs.Length}");
            if (volBytes > int.MaxValue) throw Nifti.Bad(path, "one volume is larger than 2 GiB");
            Nifti.SkipExtensions(s, path, f.VoxOffset);
            return new NiftiSeries(path, s, gz ? fs : null, f, gz ? fs.Length : null);
        }
        catch (Exception e)
        {
            s.Dispose();
            fs.Dispose();
            throw Wrap(path, e);
        }
    }

    static Exception Wrap(string path, Exception e) => e switch
    {
        UserInputException => e,
        InvalidDataException => Nifti.Bad(path, $"corrupt gzip stream ({e.Message})"),
        EndOfStreamException => Nifti.Bad(path, "unexpected end of data (truncated file?)"),
        IOException => Nifti.Bad(path, $"read error ({e.Message})"),
        _ => e,
    };

    /// <summary>
    /// Reads the next volume and writes <c>dest[i] = value at fileIndices[i]</c> (scaled, then rounded to float32 as
    /// nibabel's get_fdata().astype(float32) does).
    /// </summary>
    public void ReadNext(ReadOnlySpan<int> fileIndices, Span<float> dest)
    {
        if (Position >= Volumes) throw new InvalidOperationException($"{Path}: all {Volumes} volumes were read");
        int n;
        try { n = Nifti.ReadUpTo(_stream, _raw, 0, _raw.Length); }
        catch (Exception e) when (e is InvalidDataException or IOException) { throw Wrap(Path, e); }
        if (n < _raw.Length)
        {
            string kind = _compressedLength is { } cl
                ? $"the decompressed data (from {cl} compressed bytes)"
                : "the file";
            throw Nifti.Bad(Path,
                $"truncated: volume {Position + 1} of {Volumes} ({Shape[0]}×{Shape[1]}×{Shape[2]} {DataType}) ends " +
                $"after {n} of its {_raw.Length} bytes in {kind}");
        }
        if (BigEndian == BitConverter.IsLittleEndian && Nifti.ElementSize(DataType) > 1)
            Nifti.SwapBytes(_raw, Nifti.ElementSize(DataType));
        switch (DataType)
        {
            case NiftiDataType.UInt8: Gather<byte>(fileIndices, dest); break;
            case NiftiDataType.Int8: Gather<sbyte>(fileIndices, dest); break;
            case NiftiDataType.Int16: Gather<short>(fileIndices, dest); break;
            case NiftiDataType.UInt16: Gather<ushort>(fileIndices, dest); break;
            case NiftiDataType.Int32: Gather<int>(fileIndices, dest); break;
            case NiftiDataType.UInt32: Gather<uint>(fileIndices, dest); break;
            case NiftiDataType.Float32: Gather<float>(fileIndices, dest); break;
            default: Gather<double>(fileIndices, dest); break;
        }
        Position++;
    }

    void Gather<T>(ReadOnlySpan<int> idx, Span<float> dest) where T : unmanaged, INumberBase<T>
    {
        ReadOnlySpan<T> src = MemoryMarshal.Cast<byte, T>(_raw);
        for (int i = 0; i < idx.Length; i++)
            dest[i] = (float)(double.CreateTruncating(src[idx[i]]) * Slope + Intercept);
    }

    public void Dispose()
    {
        _stream.Dispose();
        _file?.Dispose();
    }
}
