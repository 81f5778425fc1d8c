using System.Text.RegularExpressions;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>
/// A set of images addressed by an index: a folder of image files (index = the last number in the file name, so
/// <c>rec_007.png</c>, <c>gt_007.png</c> and <c>7.png</c> are all 7) or an .npy array (N,H,W,3) of uint8 (or floats
/// holding 0–255 or 0–1), index = row. Images are decoded on demand so large sets do not sit in memory.
/// </summary>
public sealed partial class ImageSet
{
    readonly Dictionary<int, string>? _files;
    readonly string? _npy;
    readonly Npy.NpyHeader? _header;

    public string Source { get; }
    public IReadOnlyList<int> Indices { get; }

    ImageSet(string source, Dictionary<int, string>? files, string? npy, Npy.NpyHeader? header,
        IReadOnlyList<int> indices)
    {
        Source = source; _files = files; _npy = npy; _header = header; Indices = indices;
    }

    [GeneratedRegex(@"(\d+)(?!.*\d)")]
    private static partial Regex LastNumber();

    public static ImageSet Open(string path)
    {
        if (Directory.Exists(path))
        {
            var files = new Dictionary<int, string>();
            foreach (var f in Directory.GetFiles(path).Where(ImageIO.IsImageFile)
                .OrderBy(f => f, StringComparer.Ordinal))
            {
                var m = LastNumber().Match(Path.GetFileNameWithoutExtension(f));
                if (!m.Success) continue;
                if (!int.TryParse(m.Value, out int idx))
                    throw new UserInputException($"{f}: image number {m.Value} is out of range");
                if (files.TryGetValue(idx, out var other))
                    throw new UserInputException(
                        $"{path}: two images carry the number {idx} ({Path.GetFileName(other)}, " +
                        $"{Path.GetFileName(f)})");
                files[idx] = f;
            }
            if (files.Count == 0) throw new UserInputException(
                $"{path}: no numbered image files (e.g. rec_007.png, 7.png) found");
            return new ImageSet(path, files, null, null, files.Keys.Order().ToList());
        }
        if (File.Exists(path) && path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            var h = Npy.ReadHeader(path);
            if (h.Shape.Length != 4 || h.Shape[3] != 3)
                throw new UserInputException(
                    $"{path}: expected an image array of shape (N,H,W,3), got ({string.Join(",", h.Shape)})");
            if (h.DType is not (NpyDType.UInt8 or NpyDType.Float32 or NpyDType.Float64))
                throw new UserInputException(
                    $"{path}: image arrays must be uint8 (or float holding 0–255), got {h.DType}");
            return new ImageSet(path, null, path, h, Enumerable.Range(0, (int)h.Shape[0]).ToList());
        }
        throw new UserInputException($"{path}: not a folder of images or an .npy image array (N,H,W,3)");
    }

    public bool Contains(int index) => _files?.ContainsKey(index) ?? (index >= 0 && index < Indices.Count);

    /// <summary>The image as 8-bit RGB (float arrays in [0,1] are scaled and rounded; for display).</summary>
    public RgbImage Read(int index)
    {
        if (_files != null)
            return _files.TryGetValue(index,
                out var f) ? ImageIO.Read(f) : throw new UserInputException($"{Source}: no image numbered {index}");
        var (bytes, floats, h, w) = ReadRow(index);
        if (bytes != null) return new RgbImage(w, h, bytes);
        var px = new byte[floats!.Length];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp(Math.Round(floats[i] * 255), 0, 255);
        return new RgbImage(w, h, px);
    }

    /// <summary>
    /// The image as a (1,3,H,W) float32 tensor in [0,1]: 8-bit data (files, uint8 arrays, float arrays holding whole
    /// numbers 0–255) divided by 255 exactly as torchvision's ToTensor; float arrays already in [0,1] used as they are.
    /// </summary>
    public Tensor ReadTensor(int index)
    {
        if (_files != null) return ImageTensors.ToTensor01(Read(index)).unsqueeze(0);
        var (bytes, floats, h, w) = ReadRow(index);
        if (bytes != null) return ImageTensors.ToTensor01(new RgbImage(w, h, bytes)).unsqueeze(0);
        return torch.tensor(floats!, [1, h, w, 3]).permute(0, 3, 1, 2).contiguous();
    }

    /// <summary>One array row: bytes for 8-bit content, or floats in [0,1] for fractional [0,1] data.</summary>
    (byte[]? bytes, float[]? floats, int h, int w) ReadRow(int index)
    {
        var hd = _header!;
        int height = (int)hd.Shape[1], width = (int)hd.Shape[2];
        if (index < 0
            || index >= hd.Shape[0]) throw new UserInputException(
            $"{_npy}: no row {index} (array has {hd.Shape[0]} rows)");
        var row = Npy.ReadRows(_npy!, index, 1);
        if (row.DType == NpyDType.UInt8) return (row.Data, null, height, width);
        var v = row.ToFloat64();
        bool integral = true; double max = 0;
        foreach (var x in v)
        {
            if (double.IsNaN(x) || x < 0 || x > 255)
                throw new UserInputException(
                    $"{_npy}: row {index} holds {x}; float image arrays must hold values in 0–255 (or 0–1)");
            if (x != Math.Round(x)) integral = false;
            if (x > max) max = x;
        }
        if (integral) return (v.Select(x => (byte)x).ToArray(), null, height, width);
        if (max <= 1.0) return (null, v.Select(x => (float)x).ToArray(), height, width);
        // Fractional 0–255 data: the same division ToTensor would apply to such values.
        return (null, v.Select(x => (float)x / 255f).ToArray(), height, width);
    }

    public string Describe(int index) =>
        _files != null ? Path.GetFileName(_files[index]) : $"{Path.GetFileName(_npy)}[{index}]";
}

/// <summary>Reconstructions paired with ground truth by image number (or row).</summary>
public sealed class ImagePairs
{
    public ImageSet Recons { get; }
    public ImageSet Truth { get; }
    /// <summary>Indices present in both, ascending; the evaluation order.</summary>
    public IReadOnlyList<int> Indices { get; }

    public ImagePairs(ImageSet recons, ImageSet truth)
    {
        Recons = recons; Truth = truth;
        var missing = recons.Indices.Where(i => !truth.Contains(i)).ToList();
        if (missing.Count > 0)
            throw new UserInputException(
                $"{truth.Source}: no ground truth for reconstruction number(s) " +
                $"{string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")} from {recons.Source}");
        Indices = recons.Indices;
        if (Indices.Count < 2) throw new UserInputException(
            $"{recons.Source}: at least 2 reconstructions are needed (2-way identification compares pairs)");
    }

    public static ImagePairs Open(string recons, string truth) => new(ImageSet.Open(recons), ImageSet.Open(truth));
}
