using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>
/// Hugging Face <c>CLIPImageProcessor</c>: resize (shortest edge to S, or to an explicit height × width) with Pillow's
/// resampling, center crop (left = (w − S) // 2, zero padding when the image is smaller), rescale by 1/255 and
/// normalise with the CLIP mean/std. Fields come from <c>preprocessor_config.json</c>; absent fields take CLIP's
/// defaults.
/// </summary>
public sealed record ClipImageProcessor
{
    public static readonly double[] ClipMean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] ClipStd = [0.26862954, 0.26130258, 0.27577711];

    public bool DoResize { get; init; } = true;
    /// <summary>Target of the shortest edge; used when <see cref="ResizeHeight"/>/<see cref="ResizeWidth"/> are
    /// null.</summary>
    public int ShortestEdge { get; init; } = 224;
    public int? ResizeHeight { get; init; }
    public int? ResizeWidth { get; init; }
    public PillowFilter Resample { get; init; } = PillowFilter.Bicubic;
    public bool DoCenterCrop { get; init; } = true;
    public int CropHeight { get; init; } = 224;
    public int CropWidth { get; init; } = 224;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public double[] Mean { get; init; } = ClipMean;
    public double[] Std { get; init; } = ClipStd;

    /// <summary>CLIP's defaults with the given square input size (resize shortest edge to S, crop S × S).</summary>
    public static ClipImageProcessor ForSize(int size) =>
        new() { ShortestEdge = size, CropHeight = size, CropWidth = size };

    /// <summary>
    /// Reads <c>preprocessor_config.json</c> from a checkpoint folder; without one, CLIP's defaults at the model's
    /// <c>image_size</c> (from <c>config.json</c>, else 224).
    /// </summary>
    public static ClipImageProcessor FromFolder(string folder)
    {
        string path = Path.Combine(folder, "preprocessor_config.json");
        if (File.Exists(path)) return FromFile(path);
        string config = Path.Combine(folder, "config.json");
        return ForSize(File.Exists(config) ? ClipVisionConfig.FromFile(config).ImageSize : 224);
    }

    /// <summary>Largest accepted resize/crop edge in a preprocessor config.</summary>
    public const int MaxSize = 4096;

    public static ClipImageProcessor FromFile(string path)
    {
        var r = ConfigReader.Load(path, "preprocessor_config.json");
        var d = new ClipImageProcessor();
        var (shortest, rh, rw) = ReadSize(r, d.ShortestEdge);
        var (ch, cw) = ReadCropSize(r, shortest);
        int resample = r.Int("resample", 3);
        if (!Enum.IsDefined(typeof(PillowFilter), resample))
            throw r.Error("resample", $"is {resample}; expected a PIL filter 0..5 (3 = bicubic)");
        var p = new ClipImageProcessor
        {
            DoResize = r.Bool("do_resize", d.DoResize),
            ShortestEdge = shortest,
            ResizeHeight = rh,
            ResizeWidth = rw,
            Resample = (PillowFilter)resample,
            DoCenterCrop = r.Bool("do_center_crop", d.DoCenterCrop),
            CropHeight = ch,
            CropWidth = cw,
            DoRescale = r.Bool("do_rescale", d.DoRescale),
            RescaleFactor = r.FiniteDouble("rescale_factor", d.RescaleFactor),
            DoNormalize = r.Bool("do_normalize", d.DoNormalize),
            Mean = r.Triple("image_mean", d.Mean),
            Std = r.Triple("image_std", d.Std),
        };
        p.Validate(path);
        return p;
    }

    /// <summary>"size": an int (legacy configs: the shortest edge), {"shortest_edge": S} or {"height": H,
    /// "width": W}.</summary>
    static (int Shortest, int? Height, int? Width) ReadSize(ConfigReader r, int fallback)
    {
        if (!r.IsObject("size")) return (r.Int("size", fallback), null, null);
        var s = r.Section("size");
        if (s.Has("shortest_edge")) return (s.Int("shortest_edge", fallback), null, null);
        if (s.Has("height") && s.Has("width")) return (fallback, s.Int("height", 0), s.Int("width", 0));
        throw r.Error("size", "must be an integer, {\"shortest_edge\": S} or {\"height\": H, \"width\": W}");
    }

    /// <summary>"crop_size": an int or {"height": H, "width": W}; absent, the shortest edge.</summary>
    static (int Height, int Width) ReadCropSize(ConfigReader r, int shortest)
    {
        if (!r.IsObject("crop_size")) { int c = r.Int("crop_size", shortest); return (c, c); }
        var s = r.Section("crop_size");
        if (s.Has("height") && s.Has("width")) return (s.Int("height", 0), s.Int("width", 0));
        throw r.Error("crop_size", "must be an integer or {\"height\": H, \"width\": W}");
    }

    void Validate(string path)
    {
        if (ShortestEdge <= 0 || CropHeight <= 0 || CropWidth <= 0 || ResizeHeight <= 0 || ResizeWidth <= 0)
            throw new UserInputException(
                $"{path}: sizes must be positive (size {ShortestEdge}, crop {CropHeight}x{CropWidth})");
        // Upper bound so a typo cannot make every image allocate gigabytes (CLIP models use 224-448).
        if (new[] { ShortestEdge, CropHeight, CropWidth, ResizeHeight ?? 1, ResizeWidth ?? 1 }.Max() > MaxSize)
            throw new UserInputException(
                $"{path}: fields 'size'/'crop_size' must be at most {MaxSize} pixels (size {ShortestEdge}, crop " +
                $"{CropHeight}x{CropWidth})");
        if (Std.Any(s => s <= 0)) throw new UserInputException($"{path}: field 'image_std' must be positive");
    }

    /// <summary>The resize target (width, height) for an input of the given size (HF: long edge = int(S · long /
    /// short)).</summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        if (!DoResize) return (width, height);
        if (ResizeHeight is { } h && ResizeWidth is { } w) return (w, h);
        int s = ShortestEdge;
        return width <= height
            ? (s, (int)(s * (long)height / width))
            : ((int)(s * (long)width / height), s);
    }

    /// <summary>Preprocesses one 8-bit RGB image into normalised pixel values (3, cropH, cropW), float32.</summary>
    public Tensor Preprocess(RgbImage image)
    {
        var values = PreprocessValues(image, out int oh, out int ow);
        return tensor(values, [3, oh, ow]);
    }

    /// <summary>The CHW float values of <see cref="Preprocess(RgbImage)"/> (plain arrays, so batches can be made in
    /// parallel).</summary>
    float[] PreprocessValues(RgbImage image, out int oh, out int ow)
    {
        var (w, h) = ResizedSize(image.Width, image.Height);
        var resized = PillowResize.Resize(image, w, h, Resample);
        oh = DoCenterCrop ? CropHeight : h; ow = DoCenterCrop ? CropWidth : w;
        // HF center_crop: top = (h − ch) // 2 (floor), pixels outside the image are zero.
        int top = DoCenterCrop ? FloorDiv(h - oh, 2) : 0, left = DoCenterCrop ? FloorDiv(w - ow, 2) : 0;
        var values = new float[3 * oh * ow];
        double scale = DoRescale ? RescaleFactor : 1.0;
        for (int c = 0; c < 3; c++)
        {
            double mean = DoNormalize ? Mean[c] : 0.0, std = DoNormalize ? Std[c] : 1.0;
            for (int y = 0; y < oh; y++)
            {
                int sy = y + top;
                for (int x = 0; x < ow; x++)
                {
                    int sx = x + left;
                    double v = sy >= 0 && sy < h && sx >= 0 && sx < w ? resized[sy, sx, c] : 0;
                    values[(c * oh + y) * ow + x] = (float)((v * scale - mean) / std);
                }
            }
        }
        return values;
    }

    /// <summary>Preprocesses several images into (N, 3, cropH, cropW).</summary>
    public Tensor Preprocess(IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new ArgumentException("no images to preprocess");
        var parts = new float[images.Count][];
        var sizes = new (int H, int W)[images.Count];
        // Plain arrays in parallel (tensors made on worker threads would escape the caller's dispose scope).
        Parallel.For(0, images.Count, i =>
        {
            parts[i] = PreprocessValues(images[i], out int h, out int w);
            sizes[i] = (h, w);
        });
        if (sizes.Distinct().Count() != 1)
            throw new UserInputException(
                $"images give different sizes after preprocessing ({string.Join(", ", sizes.Distinct())}); enable " +
                $"center crop");
        int per = parts[0].Length;
        var all = new float[checked(per * images.Count)];
        for (int i = 0; i < parts.Length; i++) parts[i].CopyTo(all, i * per);
        return tensor(all, [images.Count, 3, sizes[0].H, sizes[0].W]);
    }

    /// <summary>
    /// Float path for images that are already tensors in [0, 1], (N, 3, H, W) — e.g. HDF5 image datasets or generated
    /// images. The same resize filter is applied as a matrix product in float (no 8-bit rounding, so it can differ
    /// from the byte path by up to about one 8-bit level; identical when no resize is needed), then the crop and
    /// normalisation. Like Pillow, each resize pass is clipped to [0, 1]. Rescaling is skipped: the values are already
    /// in [0, 1]. Runs on the tensor's device.
    /// </summary>
    public Tensor PreprocessBatch(Tensor images01)
    {
        if (images01.dim() != 4 || images01.shape[1] != 3)
            throw new UserInputException(
                $"images have shape [{string.Join(",", images01.shape)}]; expected (N, 3, H, W) in [0, 1]");
        using var scope = NewDisposeScope();
        var x = images01.to_type(ScalarType.Float32);
        int h = (int)x.shape[2], w = (int)x.shape[3];
        var (rw, rh) = ResizedSize(w, h);
        if (rw != w)
        {
            var m = tensor(PillowResize.WeightMatrix(w, rw, Resample), [rw, w]).to(x.device);
            x = einsum("nchw,pw->nchp", x, m).clamp_(0, 1); // Pillow clips each pass to the 8-bit range
        }
        if (rh != h)
        {
            var m = tensor(PillowResize.WeightMatrix(h, rh, Resample), [rh, h]).to(x.device);
            x = einsum("oh,nchw->ncow", m, x).clamp_(0, 1);
        }
        if (DoCenterCrop)
        {
            int top = FloorDiv(rh - CropHeight, 2), left = FloorDiv(rw - CropWidth, 2);
            // Zero padding where the crop leaves the image, as HF does.
            int padT = Math.Max(0, -top), padL = Math.Max(0, -left);
            int padB = Math.Max(0, top + CropHeight - rh), padR = Math.Max(0, left + CropWidth - rw);
            if (padT + padL + padB + padR > 0) x = nn.functional.pad(x, [padL, padR, padT, padB]);
            int t0 = top + padT, l0 = left + padL;
            x = x[.., .., t0..(t0 + CropHeight), l0..(l0 + CropWidth)];
        }
        if (DoNormalize)
        {
            var mean = tensor(Mean.Select(v => (float)v).ToArray(), [1, 3, 1, 1]).to(x.device);
            var std = tensor(Std.Select(v => (float)v).ToArray(), [1, 3, 1, 1]).to(x.device);
            x = (x - mean) / std;
        }
        return x.contiguous().MoveToOuterDisposeScope();
    }

    static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
}
