namespace BrainMClip.Evaluation;

/// <summary>Published subject-1 figures (from the authors' saved notebooks; docs/evaluation.md) shown beside ours on
/// real NSD data only.</summary>
public static class PublishedFigures
{
    public sealed record MetricInfo(string Key, string Label, bool HigherIsBetter, bool Percent);

    /// <summary>The eight NSD reconstruction metrics plus the legacy SSIM, in table order.</summary>
    public static readonly IReadOnlyList<MetricInfo> Metrics =
    [
        new("pixcorr", "PixCorr", true, false),
        new("ssim", "SSIM", true, false),
        new("ssim_legacy", "SSIM (legacy columns)", true, false),
        new("alexnet2", "Alex(2)", true, true),
        new("alexnet5", "Alex(5)", true, true),
        new("inception", "Incep", true, true),
        new("clip", "CLIP", true, true),
        new("efficientnet", "Eff", false, false),
        new("swav", "SwAV", false, false),
    ];

    public static readonly IReadOnlyDictionary<string, double> MindEye1 = new Dictionary<string, double>
    {
        ["pixcorr"] = 0.3925,
        ["ssim"] = 0.3467,
        ["alexnet2"] = 0.974,
        ["alexnet5"] = 0.987,
        ["inception"] = 0.945,
        ["clip"] = 0.943,
        ["efficientnet"] = 0.635,
        ["swav"] = 0.358,
        ["image_to_brain"] = 0.972,
        ["brain_to_image"] = 0.947,
    };

    public static readonly IReadOnlyDictionary<string, double> MindEye2 = new Dictionary<string, double>
    {
        ["pixcorr"] = 0.374,
        ["ssim"] = 0.440,
        ["alexnet2"] = 0.979,
        ["alexnet5"] = 0.991,
        ["inception"] = 0.960,
        ["clip"] = 0.937,
        ["efficientnet"] = 0.607,
        ["swav"] = 0.336,
        ["image_to_brain"] = 0.9996,
        ["brain_to_image"] = 0.9987,
    };

    /// <summary>The protocol behind the published figures; ours must match it for a comparison to mean
    /// anything.</summary>
    public const string Protocol =
        "MindEye1/MindEye2 on real NSD subject 1, 982 shared test images (repetitions averaged); metrics as in " +
        "docs/evaluation.md; retrieval 300-way (300 test samples per loop), 30 loops, top-1.";

    public const int Subject = 1, RetrievalWay = 300, RetrievalLoops = 30, TestImages = 982;

    public static string Format(MetricInfo m, double v) =>
        double.IsNaN(v) ? "—" : m.Percent ? $"{v * 100:F1}%" : $"{v:F3}";
}
