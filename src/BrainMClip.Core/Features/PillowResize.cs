using BrainMClip.IO;

namespace BrainMClip.Features;

/// <summary>PIL resampling filters, numbered as PIL's <c>Image.Resampling</c> (the <c>resample</c> field of HF
/// configs).</summary>
public enum PillowFilter { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 }

/// <summary>
/// Byte-exact re-implementation of Pillow 9.x <c>Image.resize</c> for 8-bit RGB (libImaging/Resample.c): separable
/// antialiased convolution (kernel widened by the scale factor when shrinking), horizontal pass first, weights as
/// 22-bit fixed point, each pass rounded and clipped to uint8. CLIP's preprocessing depends on it being exact.
/// </summary>
public static class PillowResize
{
    const int PrecisionBits = 32 - 8 - 2;

    static double Support(PillowFilter f) => f switch
    {
        PillowFilter.Box => 0.5,
        PillowFilter.Bilinear or PillowFilter.Hamming => 1.0,
        PillowFilter.Bicubic => 2.0,
        PillowFilter.Lanczos => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(f)),
    };

    static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    static double Kernel(PillowFilter f, double x)
    {
        switch (f)
        {
            case PillowFilter.Box:
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            case PillowFilter.Bilinear:
                x = Math.Abs(x);
                return x < 1.0 ? 1.0 - x : 0.0;
            case PillowFilter.Hamming:
                x = Math.Abs(x);
                if (x == 0.0) return 1.0;
                if (x >= 1.0) return 0.0;
                x *= Math.PI;
                return Math.Sin(x) / x * (0.54 + 0.46 * Math.Cos(x));
            case PillowFilter.Bicubic:
            {
                const double a = -0.5;
                x = Math.Abs(x);
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            }
            case PillowFilter.Lanczos:
                return x >= -3.0 && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
            default:
                throw new ArgumentOutOfRangeException(nameof(f));
        }
    }

    /// <summary>Per output index: first input index, tap count and normalised double weights
    /// (precompute_coeffs).</summary>
    public sealed record Coefficients(int[] First, int[] Count, double[][] Weights);

    public static Coefficients Compute(int inSize, int outSize, PillowFilter filter)
    {
        double scale = (double)inSize / outSize;
        double filterscale = Math.Max(scale, 1.0);
        double support = Support(filter) * filterscale;
        var first = new int[outSize];
        var count = new int[outSize];
        var weights = new double[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterscale;
            // (int) truncates toward zero, as the C cast does.
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var k = new double[Math.Max(xmax, 0)];
            double ww = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = Kernel(filter, (x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            if (ww != 0.0)
                for (int x = 0; x < xmax; x++) k[x] /= ww;
            first[xx] = xmin; count[xx] = Math.Max(xmax, 0); weights[xx] = k;
        }
        return new Coefficients(first, count, weights);
    }

    static int[][] FixedPoint(Coefficients c) =>
        c.Weights.Select(k => k.Select(w => w < 0
            ? (int)(-0.5 + w * (1 << PrecisionBits))
            : (int)(0.5 + w * (1 << PrecisionBits))).ToArray()).ToArray();

    static byte Clip8(int v)
    {
        if (v >= 1 << PrecisionBits << 8) return 255;
        if (v <= 0) return 0;
        return (byte)(v >> PrecisionBits);
    }

    /// <summary>Resizes like <c>PIL.Image.resize((width, height), filter)</c> on an RGB image.</summary>
    public static RgbImage Resize(RgbImage src, int width, int height, PillowFilter filter)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"invalid target size {width}x{height}");
        if (width == src.Width && height == src.Height) return new RgbImage(width, height, (byte[])src.Pixels.Clone());
        if (filter == PillowFilter.Nearest) return Nearest(src, width, height);
        var img = src;
        if (width != img.Width) img = Horizontal(img, width, filter);
        if (height != img.Height) img = Vertical(img, height, filter);
        return img;
    }

    static RgbImage Horizontal(RgbImage src, int width, PillowFilter filter)
    {
        var c = Compute(src.Width, width, filter);
        var k = FixedPoint(c);
        var dst = new RgbImage(width, src.Height);
        byte[] s = src.Pixels, d = dst.Pixels;
        int sw = src.Width;
        for (int y = 0; y < src.Height; y++)
        {
            int rowIn = y * sw * 3, rowOut = y * width * 3;
            for (int xx = 0; xx < width; xx++)
            {
                int xmin = c.First[xx], n = c.Count[xx];
                var kk = k[xx];
                for (int ch = 0; ch < 3; ch++)
                {
                    int acc = 1 << (PrecisionBits - 1);
                    for (int x = 0; x < n; x++) acc += s[rowIn + (x + xmin) * 3 + ch] * kk[x];
                    d[rowOut + xx * 3 + ch] = Clip8(acc);
                }
            }
        }
        return dst;
    }

    static RgbImage Vertical(RgbImage src, int height, PillowFilter filter)
    {
        var c = Compute(src.Height, height, filter);
        var k = FixedPoint(c);
        var dst = new RgbImage(src.Width, height);
        byte[] s = src.Pixels, d = dst.Pixels;
        int stride = src.Width * 3;
        for (int yy = 0; yy < height; yy++)
        {
            int ymin = c.First[yy], n = c.Count[yy];
            var kk = k[yy];
            for (int i = 0; i < stride; i++)
            {
                int acc = 1 << (PrecisionBits - 1);
                for (int y = 0; y < n; y++) acc += s[(y + ymin) * stride + i] * kk[y];
                d[yy * stride + i] = Clip8(acc);
            }
        }
        return dst;
    }

    /// <summary>PIL NEAREST resize (an affine transform sampling at pixel centres).</summary>
    static RgbImage Nearest(RgbImage src, int width, int height)
    {
        var dst = new RgbImage(width, height);
        double sx = (double)src.Width / width, sy = (double)src.Height / height;
        for (int y = 0; y < height; y++)
        {
            int yi = Math.Min((int)((y + 0.5) * sy), src.Height - 1);
            for (int x = 0; x < width; x++)
            {
                int xi = Math.Min((int)((x + 0.5) * sx), src.Width - 1);
                for (int ch = 0; ch < 3; ch++) dst[y, x, ch] = src[yi, xi, ch];
            }
        }
        return dst;
    }

    /// <summary>
    /// The same filter as a dense (out × in) matrix of the unquantised weights, for resizing float images in one
    /// matrix product. Equals the byte path up to Pillow's 8-bit rounding.
    /// </summary>
    public static float[] WeightMatrix(int inSize, int outSize, PillowFilter filter)
    {
        var m = new float[outSize * inSize];
        if (filter == PillowFilter.Nearest)
        {
            double s = (double)inSize / outSize;
            for (int o = 0; o < outSize; o++) m[o * inSize + Math.Min((int)((o + 0.5) * s), inSize - 1)] = 1f;
            return m;
        }
        var c = Compute(inSize, outSize, filter);
        for (int o = 0; o < outSize; o++)
            for (int x = 0; x < c.Count[o]; x++) m[o * inSize + c.First[o] + x] = (float)c.Weights[o][x];
        return m;
    }
}
