using ScottPlot;

namespace BrainMClip.IO;

/// <summary>PNG plots (ScottPlot) for the report and the layer analysis.</summary>
public static class Plots
{
    /// <summary>A heatmap with row/column labels and a colour bar; rows drawn top to bottom.</summary>
    public static byte[] Heatmap(double[,] values, IReadOnlyList<string> rowLabels, IReadOnlyList<string> colLabels,
        string title, int width = 720, int height = 560)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var plt = new Plot();
        var hm = plt.Add.Heatmap(values);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm);
        plt.Title(title);
        // ScottPlot draws row 0 at the top; cell centres sit at integer positions.
        var xt = Enumerable.Range(0, cols).Select(c => new Tick(c, colLabels[c])).ToArray();
        var yt = Enumerable.Range(0, rows).Select(r => new Tick(rows - 1 - r, rowLabels[r])).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xt);
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(yt);
        if (cols > 6 || colLabels.Any(l => l.Length > 8))
        {
            // Long or many column labels: rotate them and reserve room so they are not clipped.
            plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plt.Axes.Bottom.MinimumSize = 12 + 7 * colLabels.Max(l => l.Length);
        }
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>Line plot of several named series over a shared x axis.</summary>
    public static byte[] Lines(IReadOnlyDictionary<string, (double[] x, double[] y)> series, string xLabel, string title,
        int width = 760, int height = 420, bool logY = false)
    {
        var plt = new Plot();
        foreach (var (name, (x, y)) in series)
        {
            var ys = logY ? y.Select(v => v > 0 ? Math.Log10(v) : double.NaN).ToArray() : y;
            var sc = plt.Add.Scatter(x, ys);
            sc.LegendText = name;
            sc.MarkerSize = x.Length > 60 ? 0 : 4;
        }
        plt.XLabel(xLabel);
        if (logY) plt.YLabel("log10");
        plt.Title(title);
        plt.ShowLegend();
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>
    /// Named series over a shared x axis, some on the left axis and some on the right one (e.g. a loss and a score);
    /// a series that is all NaN is left out.
    /// </summary>
    public static byte[] TwoAxes(double[] x, IReadOnlyList<(string Name, double[] Y)> left,
        IReadOnlyList<(string Name, double[] Y)> right, string xLabel, string leftLabel, string rightLabel,
        int width = 800, int height = 500)
    {
        var plt = new Plot();
        foreach (var (name, y, onRight) in left.Select(s => (s.Name, s.Y, false)).Concat(right.Select(s => (s.Name, s.Y, true))))
        {
            if (onRight && y.All(double.IsNaN)) continue;
            var sc = plt.Add.Scatter(x, y);
            sc.LegendText = name;
            if (onRight) sc.Axes.YAxis = plt.Axes.Right;
        }
        plt.XLabel(xLabel);
        plt.YLabel(leftLabel);
        plt.Axes.Right.Label.Text = rightLabel;
        plt.ShowLegend();
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }
}
