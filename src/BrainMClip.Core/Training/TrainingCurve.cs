using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Training;

/// <summary>training_curve.png: training loss per epoch (left axis) and validation cosine of ê_S / ê_D (right axis).</summary>
public static class TrainingCurve
{
    public static void Write(string path, IReadOnlyList<JsonObject> metrics)
    {
        double[] Series(string key) =>
            metrics.Select(m => m[key] is JsonValue v && v.TryGetValue(out double d) ? d : double.NaN).ToArray();
        var epochs = metrics.Select(m => (double)m["epoch"]!.GetValue<int>()).ToArray();
        var png = Plots.TwoAxes(epochs, [("train loss (total)", Series("loss.total"))],
            [("val cos(ê_S)", Series("val_cosine_semantic")), ("val cos(ê_D)", Series("val_cosine_detail"))],
            "epoch", "loss", "validation cosine");
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>Plotting is a convenience: a failure (e.g. missing native font support) is reported, never fatal.</summary>
    public static void TryWrite(string path, IReadOnlyList<JsonObject> metrics, TextWriter? log)
    {
        try { Write(path, metrics); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log?.WriteLine($"warning: could not draw {path}: {e.Message}");
        }
    }
}
