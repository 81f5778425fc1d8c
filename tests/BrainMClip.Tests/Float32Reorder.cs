using System.Text.Json.Nodes;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests;

/// <summary>
/// How far apart two float32 evaluations of the same maths may be when their reductions run in a different order:
/// another batch size, thread count or CPU makes MKL/oneDNN pick another GEMM or convolution blocking (issue 29: AMD
/// Zen 4 and Intel Sapphire Rapids block the same shapes differently). Where the order is the same (same shapes, same
/// thread count, same machine) the suite asserts bit-identity instead; these bounds are only for different orders.
/// <para>
/// Derivation, not a fit to one machine. Reordering a length-k float32 sum moves it by at most 2γ_k·Σ|xᵢ|, γ_k = k·u /
/// (1 − k·u), u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical Algorithms, §3.1); with rounding errors of random
/// sign the same holds with λ·√k·u in place of k·u, except with probability 2·exp(−λ²/2) (Higham and Mary, SIAM J.
/// Sci. Comput. 2019). The generators' longest reductions are k ≤ 9·128 = 1,152 (a 3×3 convolution over a 128-channel
/// skip concatenation; attention and linear layers are shorter), so one output moves by ≤ λ·√1152·u = λ·2.0e-6 of
/// Σ|xᵢ|; λ = 5 (exceedance 7e-6 per output) gives 1.0e-5. GroupNorm rescales every block to unit variance, so the
/// relative error does not compound with depth; the image is x/2 + 0.5 of the last sample, which halves it, and the
/// tests sample 2 steps, which doubles it: <see cref="Image"/> = 1e-5 absolute on [0, 1] images. A batching bug (a
/// row denoised with another row's noise or context) moves an image by 1e-1 to 1, four orders of magnitude more.
/// Measured for comparison: 0 (Intel, K = 2 and 8), 8.9e-7 (AMD Zen 4, VD layout, K = 8), 1.7e-6 (Intel, the
/// per-row timestep GEMM before it was made batch-free); one forward of the demo's UNet layout on Intel: 7.9e-7 of
/// max|output| from float64, and 9.6e-7 between 8 rows and 1 row (a lone row takes libtorch's own convolution),
/// both within the bound that <c>OneForwardIsWithinTheFloat32BoundOfFloat64AtAnyBatch</c> asserts.
/// </para>
/// </summary>
public static class Float32Reorder
{
    /// <summary>Unit roundoff of float32, 2⁻²⁴.</summary>
    public const double UnitRoundoff = 5.9604644775390625e-8;

    /// <summary>Max |Δ| between two [0, 1] float32 images from differently ordered reductions (derivation above).
    /// </summary>
    public const double Image = 1e-5;

    /// <summary>Max |Δ| of one 8-bit value: round(255·x) moves by one level when x moves by <see cref="Image"/>
    /// (255·1e-5 = 0.0026 of a level) across a rounding boundary, never by two.</summary>
    public const int GreyLevels = 1;

    /// <summary>The largest |a − b| of two images of the same shape, in float64.</summary>
    public static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        using var scope = NewDisposeScope();
        return (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max().item<double>();
    }

    /// <summary>Two [0, 1] images from differently ordered float32 reductions: within <see cref="Image"/>.</summary>
    public static void AssertImagesClose(Tensor a, Tensor b, string what)
    {
        double d = MaxAbs(a, b);
        Assert.True(d <= Image, $"{what}: max |Δ| {d:E3} > {Image:E0} (float32 reordering bound, Float32Reorder)");
    }

    /// <summary>Two PNGs of the same reconstruction: identical size, every 8-bit value within
    /// <see cref="GreyLevels"/>. Returns how many values differ (by one level).</summary>
    public static int AssertPngsClose(string expected, string actual)
    {
        var a = ImageIO.Read(expected);
        var b = ImageIO.Read(actual);
        Assert.Equal((a.Width, a.Height), (b.Width, b.Height));
        int differ = 0, worst = 0;
        for (int i = 0; i < a.Pixels.Length; i++)
        {
            int d = Math.Abs(a.Pixels[i] - b.Pixels[i]);
            if (d > 0) differ++;
            worst = Math.Max(worst, d);
        }
        Assert.True(worst <= GreyLevels,
            $"{Path.GetFileName(actual)}: a value differs by {worst} grey levels from {expected} " +
            $"(at most {GreyLevels})");
        return differ;
    }

    /// <summary>
    /// Two reconstruct.json "images" arrays: index, file, seed and chosen candidate equal; candidate scores equal to
    /// 6 significant digits (relative 1e-5 + an absolute <see cref="Image"/>: a score is a mean or a cosine of the
    /// image, which moves by at most <see cref="Image"/>, plus its own float32 rounding). Asserts the winning score
    /// beats the runner-up by more than that, so the choice itself cannot depend on the order.
    /// </summary>
    public static void AssertManifestImagesAgree(JsonNode expected, JsonNode actual)
    {
        var a = expected.AsArray();
        var b = actual.AsArray();
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            foreach (var key in new[] { "index", "file", "seed", "chosen_candidate" })
                Assert.Equal(a[i]![key]?.ToJsonString(), b[i]![key]?.ToJsonString());
            if (a[i]!["candidate_scores"] is not JsonArray sa) { Assert.Null(b[i]!["candidate_scores"]); continue; }
            var sb = b[i]!["candidate_scores"]!.AsArray();
            Assert.Equal(sa.Count, sb.Count);
            var x = sa.Select(v => v!.GetValue<double>()).ToArray();
            var y = sb.Select(v => v!.GetValue<double>()).ToArray();
            for (int k = 0; k < x.Length; k++)
                Assert.True(Math.Abs(x[k] - y[k]) <= ScoreTolerance(x[k]),
                    $"image {i} candidate {k}: score {y[k]:R} vs {x[k]:R}");
            var sorted = x.OrderDescending().ToArray();
            if (sorted.Length > 1)
                Assert.True(sorted[0] - sorted[1] > 2 * ScoreTolerance(sorted[0]),
                    $"image {i}: the two best scores are too close to fix the choice ({sorted[0]:R}, {sorted[1]:R})");
        }
    }

    static double ScoreTolerance(double score) => 1e-5 * Math.Abs(score) + Image;
}
