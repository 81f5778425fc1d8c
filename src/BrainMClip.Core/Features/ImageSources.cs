using System.Text.RegularExpressions;
using BrainMClip.IO;
using PureHDF;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>Rows of stimulus images, read a block at a time and returned as normalised CLIP pixel values.</summary>
public interface IImageSource : IDisposable
{
    long Count { get; }
    /// <summary>What was opened (kind and path), recorded in feature-file metadata.</summary>
    string Description { get; }
    /// <summary>Rows [start, start+count) as normalised pixel values (count, 3, S, S), float32 on the CPU.</summary>
    Tensor Load(long start, int count, ClipImageProcessor processor);
}

/// <summary>Opens the inputs <c>brainmclip features</c> accepts.</summary>
public static class ImageSources
{
    /// <summary>
    /// <paramref name="spec"/> is an image folder, a single image file, a stimulus <c>.npy</c> (N,H,W,3; uint8 or
    /// 0–255 floats), an HDF5 file (N,3,H,W in [0,1]; dataset from <paramref name="dataset"/> or <c>file.hdf5:name</c>,
    /// default "images"), or a safetensors file with already normalised <c>pixel_values</c>.
    /// </summary>
    public static IImageSource Open(string spec, string? dataset = null)
    {
        if (Directory.Exists(spec)) return new FolderSource(spec);
        string path = spec;
        string? ds = dataset;
        int colon = spec.LastIndexOf(':');
        if (!File.Exists(spec) && colon > 0 && File.Exists(spec[..colon]))
        {
            path = spec[..colon];
            ds ??= spec[(colon + 1)..];
        }
        UserInputException.RequireFile(path, "input images (image folder, image, .npy, .hdf5/.h5 or .safetensors)");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".npy" => new NpySource(path),
            ".hdf5" or ".h5" => new Hdf5Source(path, ds ?? "images"),
            ".safetensors" => new PixelValuesSource(path),
            _ when ImageIO.IsImageFile(path) => new FolderSource(path, [Path.GetFullPath(path)]),
            _ =>
                throw new UserInputException(
                $"{path}: unsupported input type '{ext}' (expected an image folder, image file, .npy, .hdf5/.h5 or " +
                $".safetensors)"),
        };
    }

    /// <summary>
    /// Folder order: by the last number in each file name when every name has one (img2 before img10), else by name.
    /// </summary>
    public static IReadOnlyList<string> SortImageFiles(IEnumerable<string> files)
    {
        var list = files.ToList();
        var numbers = list.Select(f => Regex.Matches(Path.GetFileNameWithoutExtension(f), @"\d+")).ToList();
        if (list.Count > 0 && numbers.All(m => m.Count > 0))
            return list.Select((f, i) => (f, n: System.Numerics.BigInteger.Parse(numbers[i][^1].Value)))
                .OrderBy(x => x.n).ThenBy(x => Path.GetFileName(x.f), StringComparer.Ordinal).Select(x => x.f).ToList();
        return list.OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList();
    }
}

sealed class FolderSource : IImageSource
{
    readonly IReadOnlyList<string> _files;
    public long Count => _files.Count;
    public string Description { get; }

    public FolderSource(string folder, IReadOnlyList<string>? files = null)
    {
        _files = files
            ?? ImageSources.SortImageFiles(Directory.EnumerateFiles(folder).Where(ImageIO.IsImageFile)
            .Select(Path.GetFullPath));
        if (_files.Count == 0) throw new UserInputException(
            $"{folder}: no image files ({string.Join(", ", ImageIO.Extensions)}) in this folder");
        Description = files == null ? $"folder:{Path.GetFullPath(folder)}" : $"image:{_files[0]}";
    }

    public Tensor Load(long start, int count, ClipImageProcessor processor)
    {
        var images = new RgbImage[count];
        Parallel.For(0, count, i => images[i] = ImageIO.Read(_files[(int)start + i]));
        return processor.Preprocess(images);
    }

    public void Dispose() { }
}

/// <summary>Brain-Diffuser style stimulus arrays: (N, H, W, 3), uint8 or floats holding 0–255.</summary>
sealed class NpySource : IImageSource
{
    readonly string _path;
    readonly Npy.NpyHeader _header;
    public long Count => _header.Shape[0];
    public string Description => $"npy:{_path}";

    public NpySource(string path)
    {
        _path = Path.GetFullPath(path);
        _header = Npy.ReadHeader(path);
        var s = _header.Shape;
        if (s.Length != 4 || s[3] != 3 || s[0] == 0)
            throw new UserInputException(
                $"{path}: stimulus array has shape ({string.Join(", ", s)}); expected (N, H, W, 3) RGB images with N " +
                $"> 0");
    }

    public Tensor Load(long start, int count, ClipImageProcessor processor)
    {
        var rows = Npy.ReadRows(_path, start, count);
        int h = (int)_header.Shape[1], w = (int)_header.Shape[2], per = h * w * 3;
        var images = new RgbImage[count];
        if (rows.DType == NpyDType.UInt8)
            for (int i = 0; i < count; i++) images[i] = new RgbImage(w, h, rows.Data.AsSpan(i * per, per).ToArray());
        else
        {
            var f = rows.ToFloat32();
            for (int i = 0; i < count; i++)
            {
                var px = new byte[per];
                for (int j = 0; j < per; j++)
                {
                    float v = f[i * per + j];
                    if (!(v >= -0.5f && v < 255.5f))
                        throw new UserInputException(
                            $"{_path}: image {start + i} has value {v}; expected 0–255 (uint8 or floats holding " +
                            $"0–255)");
                    px[j] = (byte)Math.Round(v, MidpointRounding.AwayFromZero);
                }
                images[i] = new RgbImage(w, h, px);
            }
        }
        return processor.Preprocess(images);
    }

    public void Dispose() { }
}

/// <summary>HDF5 image datasets such as MindEye's <c>coco_images_224_float16.hdf5</c>: (N, 3, H, W) in [0,
/// 1].</summary>
sealed class Hdf5Source : IImageSource
{
    readonly string _path, _name;
    readonly Hdf5File _file;
    readonly Hdf5Dataset _ds;
    readonly ulong[] _dims;
    public long Count => (long)_dims[0];
    public string Description => $"hdf5:{_path}:{_name}";

    public Hdf5Source(string path, string dataset)
    {
        _path = Path.GetFullPath(path); _name = dataset;
        // Hdf5File turns every PureHDF failure on a corrupt file into a UserInputException and bounds its time and
        // memory.
        _file = Hdf5File.Open(path);
        try
        {
            _ds = _file.Dataset(dataset);
            _dims = _ds.Dims;
            if (_dims.Length != 4 || _dims[1] != 3 || _dims[0] == 0 || _dims[2] == 0 || _dims[3] == 0
                || _dims[2] > int.MaxValue || _dims[3] > int.MaxValue)
                throw new UserInputException(
                    $"{path}:{dataset}: shape ({string.Join(", ", _dims)}); expected (N, 3, H, W) images in [0, 1]");
            if (!(_ds.TypeClass == H5DataTypeClass.FloatingPoint && _ds.TypeSize is 2 or 4 or 8)
                && !(_ds.TypeClass == H5DataTypeClass.FixedPoint && _ds.TypeSize == 1))
                throw new UserInputException(
                    $"{path}:{dataset}: element type {_ds.TypeClass} of {_ds.TypeSize} bytes; expected float16/32/64 " +
                    $"in [0, 1] (or uint8 0–255)");
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    public Tensor Load(long start, int count, ClipImageProcessor processor)
    {
        long[] shape = [count, (long)_dims[1], (long)_dims[2], (long)_dims[3]];
        using var scope = NewDisposeScope();
        Tensor x = _ds.TypeClass == H5DataTypeClass.FixedPoint
            ? tensor(_ds.ReadRows<byte>(start, count), shape).to_type(ScalarType.Float32) / 255.0f
            : _ds.TypeSize switch
            {
                2 => tensor(Array.ConvertAll(_ds.ReadRows<Half>(start, count), v => (float)v), shape),
                4 => tensor(_ds.ReadRows<float>(start, count), shape),
                _ => tensor(_ds.ReadRows<double>(start, count), shape).to_type(ScalarType.Float32),
            };
        return processor.PreprocessBatch(x).MoveToOuterDisposeScope();
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Already normalised pixels: a safetensors file with <c>pixel_values</c> (N, 3, S, S).</summary>
sealed class PixelValuesSource : IImageSource
{
    readonly string _path;
    readonly long[] _shape;
    public long Count => _shape[0];
    public string Description => $"pixel_values:{_path}";

    public PixelValuesSource(string path)
    {
        _path = Path.GetFullPath(path);
        var h = SafeTensors.ReadHeader(path);
        if (!h.Entries.TryGetValue("pixel_values", out var e))
            throw new UserInputException(
                $"{path}: no 'pixel_values' tensor (has: {string.Join(", ", h.Entries.Keys.Take(10))})");
        _shape = e.Shape;
        if (_shape.Length != 4 || _shape[1] != 3 || _shape[0] == 0)
            throw new UserInputException(
                $"{path}: pixel_values has shape [{string.Join(",", _shape)}]; expected [N,3,S,S]");
    }

    public Tensor Load(long start, int count, ClipImageProcessor processor)
    {
        var t = SafeTensors.LoadTensor(_path, "pixel_values", start, count);
        if (t.dtype == ScalarType.Float32) return t;
        var f = t.to_type(ScalarType.Float32);
        t.Dispose();
        return f;
    }

    public void Dispose() { }
}
