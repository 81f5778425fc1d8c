using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>PixCorr / SSIM / legacy SSIM of one image pair given as protocol-prepared (1,3,H,W) [0,1]
/// tensors.</summary>
public static class LowLevelMetrics
{
    public const int Side = 425;

    public sealed record PairScores(double PixCorr, double Ssim, double SsimLegacy);

    /// <summary>Resizes both to 425×425 and computes the three low-level metrics for the pair.</summary>
    public static PairScores Compute(Tensor truth, Tensor recon, bool pixcorr = true, bool ssim = true,
        bool legacy = true)
    {
        using var scope = NewDisposeScope();
        var t = ImageTensors.Resize(truth.to_type(ScalarType.Float32), Side, Side).contiguous().data<float>().ToArray();
        var r = ImageTensors.Resize(recon.to_type(ScalarType.Float32), Side, Side).contiguous().data<float>().ToArray();
        double pc = pixcorr ? PixelMetrics.Pearson(t, r) : double.NaN;
        double s = double.NaN, sl = double.NaN;
        if (ssim || legacy)
        {
            var gt = PixelMetrics.Gray(t, Side, Side);
            var gr = PixelMetrics.Gray(r, Side, Side);
            if (ssim) s = PixelMetrics.Ssim(gr, gt, Side, Side);
            if (legacy) sl = PixelMetrics.SsimLegacyColumns(gr, gt, Side, Side);
        }
        return new PairScores(pc, s, sl);
    }
}
