namespace BrainMClip.Evaluation;

/// <summary>
/// Low-level reconstruction metrics of docs/evaluation.md on 425×425 images: PixCorr, SSIM and the legacy column-wise
/// SSIM.
/// SSIM reproduces scikit-image 0.19's arithmetic for float32 input step by step (scipy's separable Gaussian filter
/// evaluated in double per 1-D pass and stored as float32, every later elementwise step in float32, the cropped mean
/// in double) so that values agree with the reference library to ~1e-7, far inside the protocol tolerance.
/// </summary>
public static class PixelMetrics
{
    public const double K1 = 0.01, K2 = 0.03, Sigma = 1.5, Truncate = 3.5, DataRange = 1.0;

    /// <summary>Filter radius as scipy computes it: int(truncate·σ + 0.5) = 5, i.e. 11 taps; the crop width
    /// too.</summary>
    public static readonly int Radius = (int)(Truncate * Sigma + 0.5);

    /// <summary>Pearson correlation of two equally long vectors, in double (np.corrcoef on float32 data).</summary>
    public static double Pearson(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length
            || a.Length < 2) throw new ArgumentException(
            $"Pearson needs two vectors of equal length ≥ 2 (got {a.Length} and {b.Length})");
        double ma = 0, mb = 0;
        for (int i = 0; i < a.Length; i++) { ma += a[i]; mb += b[i]; }
        ma /= a.Length; mb /= b.Length;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double x = a[i] - ma, y = b[i] - mb;
            sab += x * y; saa += x * x; sbb += y * y;
        }
        return Math.Clamp(sab / Math.Sqrt(saa) / Math.Sqrt(sbb), -1.0, 1.0);
    }

    /// <summary>skimage.color.rgb2gray on float32 input, from planar CHW (3·H·W floats): 0.2125R + 0.7154G + 0.0721B in
    /// float32.</summary>
    public static float[] Gray(ReadOnlySpan<float> chw, int height, int width)
    {
        int n = height * width;
        if (chw.Length != 3 * n) throw new ArgumentException($"expected 3×{height}×{width} values, got {chw.Length}");
        const float cr = 0.2125f, cg = 0.7154f, cb = 0.0721f;
        var g = new float[n];
        for (int i = 0; i < n; i++) g[i] = chw[i] * cr + chw[n + i] * cg + chw[2 * n + i] * cb;
        return g;
    }

    /// <summary>Normalised Gaussian taps exactly as scipy.ndimage._gaussian_kernel1d builds them (double).</summary>
    public static double[] GaussianKernel(double sigma, int radius)
    {
        var w = new double[2 * radius + 1];
        double sum = 0, k = -0.5 / (sigma * sigma);
        for (int i = -radius; i <= radius; i++) { w[i + radius] = Math.Exp(k * i * i); sum += w[i + radius]; }
        for (int i = 0; i < w.Length; i++) w[i] /= sum;
        return w;
    }

    /// <summary>scipy 'reflect' boundary (d c b a | a b c d | d c b a), valid for any offset.</summary>
    static int Reflect(int i, int n)
    {
        int period = 2 * n;
        i %= period;
        if (i < 0) i += period;
        return i < n ? i : period - 1 - i;
    }

    /// <summary>
    /// One 1-D correlation pass along an axis of a float32 array (scipy NI_Correlate1D with a symmetric kernel):
    /// the line is read into doubles, out = x0·w0 + Σ_j (x−j + x+j)·wj for j = r..1, stored back as float32.
    /// </summary>
    static void Filter1D(float[] src, float[] dst, int lines, int length, int lineStride, int step, double[] w)
    {
        int r = (w.Length - 1) / 2;
        var buf = new double[length + 2 * r];
        for (int l = 0; l < lines; l++)
        {
            int baseIdx = l * lineStride;
            for (int i = -r; i < length + r; i++) buf[i + r] = src[baseIdx + Reflect(i, length) * step];
            for (int i = 0; i < length; i++)
            {
                int c = i + r;
                double acc = buf[c] * w[r];
                for (int j = -r; j < 0; j++) acc += (buf[c + j] + buf[c - j]) * w[r + j];
                dst[baseIdx + i * step] = (float)acc;
            }
        }
    }

    /// <summary>scipy.ndimage.gaussian_filter on a float32 H×W image: axis 0 then axis 1, float32 in between.</summary>
    public static float[] GaussianFilter2D(float[] img, int height, int width, double[] w)
    {
        var tmp = new float[img.Length];
        var outp = new float[img.Length];
        Filter1D(img, tmp, width, height, 1, width, w);   // along rows index (axis 0): lines = columns
        Filter1D(tmp, outp, height, width, width, 1, w);  // along axis 1: lines = rows
        return outp;
    }

    /// <summary>SSIM map (float32) from the five filtered moments, in scikit-image's operation order.</summary>
    static float SsimPixel(float ux, float uy, float uxx, float uyy, float uxy)
    {
        const float covNorm = 1.0f; // population covariance (use_sample_covariance=False)
        float c1 = (float)Math.Pow(K1 * DataRange, 2), c2 = (float)Math.Pow(K2 * DataRange, 2);
        float vx = covNorm * (uxx - ux * ux);
        float vy = covNorm * (uyy - uy * uy);
        float vxy = covNorm * (uxy - ux * uy);
        float a1 = 2f * ux * uy + c1;
        float a2 = 2f * vxy + c2;
        float b1 = ux * ux + uy * uy + c1;
        float b2 = vx + vy + c2;
        float d = b1 * b2;
        return a1 * a2 / d;
    }

    static (float[] ux, float[] uy, float[] uxx, float[] uyy, float[] uxy) Moments(float[] x, float[] y,
        Func<float[], float[]> filter)
    {
        var xx = new float[x.Length]; var yy = new float[x.Length]; var xy = new float[x.Length];
        for (int i = 0; i < x.Length; i++) { xx[i] = x[i] * x[i]; yy[i] = y[i] * y[i]; xy[i] = x[i] * y[i]; }
        return (filter(x), filter(y), filter(xx), filter(yy), filter(xy));
    }

    /// <summary>
    /// 2-D SSIM of two grayscale float32 images (skimage structural_similarity with gaussian_weights=True, σ 1.5,
    /// use_sample_covariance=False, data_range 1): mean of the SSIM map with a 5-pixel border cropped.
    /// </summary>
    public static double Ssim(float[] x, float[] y, int height, int width)
    {
        Check(x, y, height, width);
        var w = GaussianKernel(Sigma, Radius);
        var (ux, uy, uxx, uyy, uxy) = Moments(x, y, a => GaussianFilter2D(a, height, width, w));
        int p = Radius;
        if (height <= 2 * p
            || width <= 2 * p) throw new ArgumentException(
            $"image {height}×{width} is too small for an 11-tap SSIM window");
        double sum = 0;
        for (int r = p; r < height - p; r++)
            for (int c = p; c < width - p; c++)
            {
                int i = r * width + c;
                sum += SsimPixel(ux[i], uy[i], uxx[i], uyy[i], uxy[i]);
            }
        return sum / ((double)(height - 2 * p) * (width - 2 * p));
    }

    /// <summary>
    /// Legacy SSIM (Brain-Diffuser's numbers): older scikit-image called with <c>multichannel=True</c> on a 2-D
    /// grayscale image treated its last axis (columns) as channels, so it computed a 1-D SSIM down every column
    /// (1-D Gaussian along the rows, 5 samples cropped at each end), then averaged the per-column means. The
    /// per-column means are float32 and averaged with numpy's float32 pairwise summation, as scikit-image 0.19 does
    /// for float32 input (older releases computed in float64; the difference is ~1e-7).
    /// </summary>
    public static double SsimLegacyColumns(float[] x, float[] y, int height, int width)
    {
        Check(x, y, height, width);
        var w = GaussianKernel(Sigma, Radius);
        int p = Radius;
        if (height <= 2 * p) throw new ArgumentException(
            $"image height {height} is too small for an 11-tap SSIM window");
        // Filter every column along axis 0 (one pass, the 1-D case).
        float[] F(float[] a) { var o = new float[a.Length]; Filter1D(a, o, width, height, 1, width, w); return o; }
        var (ux, uy, uxx, uyy, uxy) = Moments(x, y, F);
        var colMeans = new float[width];
        for (int c = 0; c < width; c++)
        {
            double sum = 0;
            for (int r = p; r < height - p; r++)
            {
                int i = r * width + c;
                sum += SsimPixel(ux[i], uy[i], uxx[i], uyy[i], uxy[i]);
            }
            colMeans[c] = (float)(sum / (height - 2 * p));
        }
        return (float)(PairwiseSum(colMeans, 0, colMeans.Length) / colMeans.Length);
    }

    /// <summary>numpy's float32 pairwise summation (blocks of 128, 8 accumulators), as used by ndarray.mean.</summary>
    static float PairwiseSum(float[] a, int start, int n)
    {
        if (n < 8)
        {
            float res = 0f; // numpy starts from 0. and adds in the array's type
            for (int i = 0; i < n; i++) res += a[start + i];
            return res;
        }
        if (n <= 128)
        {
            var r = new float[8];
            for (int j = 0; j < 8; j++) r[j] = a[start + j];
            int i;
            for (i = 8; i < n - n % 8; i += 8)
                for (int j = 0; j < 8; j++) r[j] += a[start + i + j];
            float res = (r[0] + r[1] + (r[2] + r[3])) + (r[4] + r[5] + (r[6] + r[7]));
            for (; i < n; i++) res += a[start + i];
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return PairwiseSum(a, start, n2) + PairwiseSum(a, start + n2, n - n2);
    }

    static void Check(float[] x, float[] y, int h, int w)
    {
        if (x.Length != h * w || y.Length != h * w)
            throw new ArgumentException($"SSIM images must both be {h}×{w} (got {x.Length} and {y.Length} values)");
    }
}
