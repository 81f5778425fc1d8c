using System.Text.RegularExpressions;
using BrainMClip.IO;

namespace BrainMClip.Evaluation;

/// <summary>
/// A set of images addressed by an index: a folder of image files (index = the last number in the file name, so
/// <c>rec_007.png</c>, <c>gt_007.png</c> and <c>7.png</c> are all 7) or an .npy array (N,H,W,3) of uint8 (or floats
/// holding 0–255), index = row. Images are decoded on demand so large sets do not sit in memory.
/// </summary>
public sealed partial class ImageSet
{
    readonly Dictionary<int, string>? _files;
    readonly string? _npy;
    readonly Npy.NpyHeader? _header;

    public string Source { get; }
    public IReadOnlyList<int> Indices { get; }

    ImageSet(string source, Dictionary<int, string>? files, string? npy, Npy.NpyHeader? header, IReadOnlyList<int> indices)
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
            foreach (var f in Directory.GetFiles(path).Where(ImageIO.IsImageFile).OrderBy(f => f, StringComparer.Ordinal))
            {
                var m = LastNumber().Match(Path.GetFileNameWithoutExtension(f));
                if (!m.Success) continue;
                if (!int.TryParse(m.Value, out int idx))
                    throw new UserInputException($"{f}: image number {m.Value} is out of range");
                if (files.TryGetValue(idx, out var other))
                    throw new UserInputException($"{path}: two images carry the number {idx} ({Path.GetFileName(other)}, {Path.GetFileName(f)})");
                files[idx] = f;
            }
            if (files.Count == 0) throw new UserInputException($"{path}: no numbered image files (e.g. rec_007.png, 7.png) found");
            return new ImageSet(path, files, null, null, files.Keys.Order().ToList());
        }
        if (File.Exists(path) && path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            var h = Npy.ReadHeader(path);
            if (h.Shape.Length != 4 || h.Shape[3] != 3)
                throw new UserInputException($"{path}: expected an image array of shape (N,H,W,3), got ({string.Join(",", h.Shape)})");
            if (h.DType is not (NpyDType.UInt8 or NpyDType.Float32 or NpyDType.Float64))
                throw new UserInputException($"{path}: image arrays must be uint8 (or float holding 0–255), got {h.DType}");
            return new ImageSet(path, null, path, h, Enumerable.Range(0, (int)h.Shape[0]).ToList());
        }
        throw new UserInputException($"{path}: not a folder of images or an .npy image array (N,H,W,3)");
    }

    public bool Contains(int index) => _files?.ContainsKey(index) ?? (index >= 0 && index < Indices.Count);

    public RgbImage Read(int index)
    {
        if (_files != null)
            return _files.TryGetValue(index, out var f) ? ImageIO.Read(f) : throw new UserInputException($"{Source}: no image numbered {index}");
        var h = _header!;
        var row = Npy.ReadRows(_npy!, index, 1);
        int height = (int)h.Shape[1], width = (int)h.Shape[2];
        byte[] px;
        if (row.DType == NpyDType.UInt8) px = row.Data;
        else
        {
            var v = row.ToFloat64();
            px = new byte[v.Length];
            for (int i = 0; i < v.Length; i++)
            {
                if (double.IsNaN(v[i]) || v[i] < -0.5 || v[i] > 255.5)
                    throw new UserInputException($"{_npy}: row {index} holds {v[i]}; float image arrays must hold values in 0–255");
                px[i] = (byte)Math.Clamp(Math.Round(v[i]), 0, 255);
            }
        }
        return new RgbImage(width, height, px);
    }

    public string Describe(int index) => _files != null ? Path.GetFileName(_files[index]) : $"{Path.GetFileName(_npy)}[{index}]";
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
            throw new UserInputException($"{truth.Source}: no ground truth for reconstruction number(s) {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")} from {recons.Source}");
        Indices = recons.Indices;
        if (Indices.Count < 2) throw new UserInputException($"{recons.Source}: at least 2 reconstructions are needed (2-way identification compares pairs)");
    }

    public static ImagePairs Open(string recons, string truth) => new(ImageSet.Open(recons), ImageSet.Open(truth));
}
