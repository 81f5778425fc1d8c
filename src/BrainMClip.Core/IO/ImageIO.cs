using SkiaSharp;

namespace BrainMClip.IO;

/// <summary>An 8-bit RGB image in row-major HWC order (no alpha), the exchange type for image files.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    /// <summary>Height*Width*3 bytes, row-major, RGB.</summary>
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[]? pixels = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"invalid image size {width}x{height}");
        Width = width; Height = height;
        Pixels = pixels ?? new byte[checked(width * height * 3)];
        if (Pixels.Length != width * height * 3) throw new ArgumentException(
            "pixel buffer size does not match the image size");
    }

    public byte this[int y, int x, int c]
    {
        get => Pixels[(y * Width + x) * 3 + c];
        set => Pixels[(y * Width + x) * 3 + c] = value;
    }
}

/// <summary>Reads and writes PNG/JPEG (and whatever else Skia decodes) as <see cref="RgbImage"/>.</summary>
public static class ImageIO
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];

    /// <summary>Absolute cap on decoded pixels (Pillow's decompression-bomb error threshold).</summary>
    public const long MaxPixels = 178_956_970;

    public static bool IsImageFile(string path) =>
        Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    public static RgbImage Read(string path)
    {
        UserInputException.RequireFile(path, "image file");
        using var data = SKData.Create(path);
        using var codec = data == null ? null : SKCodec.Create(data);
        if (codec == null) throw new UserInputException(
            $"{path}: not a readable image (PNG/JPEG/BMP/WebP/GIF expected)");
        // Decompression-bomb guard: a corrupt or hostile header can claim gigapixels from a few hundred bytes.
        long pixels = (long)codec.Info.Width * codec.Info.Height,
            limit = Math.Min(MaxPixels, Math.Max(1L << 22, data!.Size * 1024));
        if (codec.Info.Width <= 0 || codec.Info.Height <= 0 || pixels > limit)
            throw new UserInputException(
                $"{path}: image header claims {codec.Info.Width}x{codec.Info.Height} pixels, more than a " +
                $"{data!.Size}-byte file can hold " +
                $"(limit {limit} pixels; corrupt file or decompression bomb?)");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(info);
        var result = codec.GetPixels(info, bmp.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            throw new UserInputException($"{path}: image could not be decoded ({result})");
        if (result == SKCodecResult.IncompleteInput)
            throw new UserInputException($"{path}: image is truncated");
        var rgba = bmp.Bytes;
        var img = new RgbImage(info.Width, info.Height);
        for (int i = 0, j = 0; i < rgba.Length; i += 4, j += 3)
        {
            img.Pixels[j] = rgba[i]; img.Pixels[j + 1] = rgba[i + 1]; img.Pixels[j + 2] = rgba[i + 2];
        }
        return img;
    }

    /// <summary>Writes a PNG atomically.</summary>
    public static void WritePng(string path, RgbImage img) => AtomicFile.WriteAllBytes(path, EncodePng(img));

    public static byte[] EncodePng(RgbImage img)
    {
        var info = new SKImageInfo(img.Width, img.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(info);
        var rgba = new byte[img.Width * img.Height * 4];
        for (int i = 0, j = 0; j < img.Pixels.Length; i += 4, j += 3)
        {
            rgba[i] = img.Pixels[j]; rgba[i + 1] = img.Pixels[j + 1]; rgba[i + 2] = img.Pixels[j + 2]; rgba[i
                + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bmp.GetPixels(), rgba.Length);
        using var image = SKImage.FromBitmap(bmp);
        using var encoded = image.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }
}
