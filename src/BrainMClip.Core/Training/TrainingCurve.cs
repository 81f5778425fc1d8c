using System.Text.Json.Nodes;

namespace BrainMClip.Training;

/// <summary>training_curve.png: training loss per epoch (left axis) and validation cosine of ê_S / ê_D (right axis).</summary>
public static class TrainingCurve
{
    public static void Write(string path, IReadOnlyList<JsonObject> metrics)
    {
        double[] Series(string key) => metrics.Select(m => m[key] is JsonValue v && v.TryGetValue(out double d) ? d : double.NaN).ToArray();
        var epochs = metrics.Select(m => (double)m["epoch"]!.GetValue<int>()).ToArray();
        var plt = new ScottPlot.Plot();
        var loss = plt.Add.Scatter(epochs, Series("loss.total"));
        loss.LegendText = "train loss (total)";
        foreach (var (key, label) in new[] { ("val_cosine_semantic", "val cos(ê_S)"), ("val_cosine_detail", "val cos(ê_D)") })
        {
            var ys = Series(key);
            if (ys.All(double.IsNaN)) continue;
            var s = plt.Add.Scatter(epochs, ys);
            s.LegendText = label;
            s.Axes.YAxis = plt.Axes.Right;
        }
        plt.XLabel("epoch");
        plt.YLabel("loss");
        plt.Axes.Right.Label.Text = "validation cosine";
        plt.ShowLegend();
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp.png");
        plt.SavePng(tmp, 800, 500);
        File.Move(tmp, full, overwrite: true);
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
