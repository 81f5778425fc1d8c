using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.IO;

/// <summary>Conversions between 8-bit images and the [0,1] float32 tensors the evaluation protocol works on.</summary>
public static class ImageTensors
{
    /// <summary>Side above which images are first resized to 256×256, as MindEye did before every metric.</summary>
    public const int ProtocolSide = 256;

    /// <summary>HWC bytes → (3,H,W) float32 in [0,1] (torchvision ToTensor: float32 division by 255).</summary>
    public static Tensor ToTensor01(RgbImage img)
    {
        int n = img.Width * img.Height;
        var chw = new float[3 * n];
        var px = img.Pixels;
        for (int i = 0; i < n; i++)
        {
            chw[i] = px[3 * i] / 255f;
            chw[n + i] = px[3 * i + 1] / 255f;
            chw[2 * n + i] = px[3 * i + 2] / 255f;
        }
        return tensor(chw, [3, img.Height, img.Width]);
    }

    /// <summary>(3,H,W) or (N,3,H,W) [0,1] float → 8-bit image(s) (rounded, clamped).</summary>
    public static RgbImage ToImage(Tensor chw)
    {
        using var scope = NewDisposeScope();
        var t = chw.dim() == 4 ? chw[0] : chw;
        if (t.dim() != 3
            || t.shape[0] != 3) throw new ArgumentException(
            $"expected a (3,H,W) image tensor, got [{string.Join(",", chw.shape)}]");
        int h = (int)t.shape[1], w = (int)t.shape[2];
        var bytes = (t.to_type(ScalarType.Float32).clamp(0, 1) * 255).round().to_type(ScalarType.Byte).permute(1, 2,
            0).contiguous().data<byte>().ToArray();
        return new RgbImage(w, h, bytes);
    }

    /// <summary>
    /// Bilinear resize without antialiasing of (N,C,H,W) float32, with PyTorch 1.13's CPU arithmetic
    /// (F.interpolate, align_corners=False): scale = (float)in/out, source index in double, float32 weights
    /// λ1 = (float)(src − i0), λ0 = 1 − λ1, products accumulated in double and stored as float32. Matches Debian's
    /// torch 1.13 exactly when downsampling and to 1 ulp when upsampling (libtorch 2.10's kernel differs by up to
    /// ~1e-5 when upsampling, which would move SSIM by ~1e-6).
    /// </summary>
    public static Tensor Resize(Tensor nchw, int height, int width)
    {
        if (nchw.dim() != 4) throw new ArgumentException($"expected (N,C,H,W), got [{string.Join(",", nchw.shape)}]");
        if (nchw.shape[2] == height && nchw.shape[3] == width) return nchw.alias();
        int n = (int)nchw.shape[0], c = (int)nchw.shape[1], ih = (int)nchw.shape[2], iw = (int)nchw.shape[3];
        var src = nchw.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var (h0, h1, lh0, lh1) = LinearIndices(ih, height);
        var (w0, w1, lw0, lw1) = LinearIndices(iw, width);
        var dst = new float[(long)n * c * height * width];
        Parallel.For(0, n * c, plane =>
        {
            int sb = plane * ih * iw, db = plane * height * width;
            for (int y = 0; y < height; y++)
            {
                int r0 = sb + h0[y] * iw, r1 = sb + h1[y] * iw;
                double a0 = lh0[y], a1 = lh1[y];
                for (int x = 0; x < width; x++)
                {
                    double b0 = lw0[x], b1 = lw1[x];
                    double top = src[r0 + w0[x]] * b0 + src[r0 + w1[x]] * b1;
                    double bot = src[r1 + w0[x]] * b0 + src[r1 + w1[x]] * b1;
                    dst[db + y * width + x] = (float)(top * a0 + bot * a1);
                }
            }
        });
        return tensor(dst, [n, c, height, width]);
    }

    static (int[] i0, int[] i1, float[] l0, float[] l1) LinearIndices(int inSize, int outSize)
    {
        double scale = (float)inSize / outSize;
        var i0 = new int[outSize]; var i1 = new int[outSize]; var l0 = new float[outSize]; var l1 = new float[outSize];
        for (int d = 0; d < outSize; d++)
        {
            double real = Math.Max(scale * (d + 0.5) - 0.5, 0.0);
            int j = (int)real;
            i0[d] = j;
            i1[d] = j < inSize - 1 ? j + 1 : j;
            l1[d] = (float)Math.Clamp(real - j, 0.0, 1.0);
            l0[d] = 1f - l1[d];
        }
        return (i0, i1, l0, l1);
    }

    /// <summary>The protocol's first step: images larger than 256 on either side become 256×256 (MindEye).</summary>
    public static Tensor ProtocolDownsize(Tensor nchw) =>
        nchw.shape[2] > ProtocolSide
            || nchw.shape[3] > ProtocolSide ? Resize(nchw, ProtocolSide, ProtocolSide) : nchw.alias();

    /// <summary>A (N,3,H,W) batch of the protocol-downsized image, ready for a metric's own resize.</summary>
    public static Tensor Prepare(RgbImage img)
    {
        using var scope = NewDisposeScope();
        return ProtocolDownsize(ToTensor01(img).unsqueeze(0)).MoveToOuterDisposeScope();
    }

    /// <summary>Protocol downsizing of a (1,3,H,W) [0,1] tensor.</summary>
    public static Tensor Prepare(Tensor image01)
    {
        using var scope = NewDisposeScope();
        return ProtocolDownsize(image01.to_type(ScalarType.Float32)).MoveToOuterDisposeScope();
    }
}
