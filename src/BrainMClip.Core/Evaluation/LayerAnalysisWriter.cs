using System.Globalization;
using System.Text;
using System.Text.Json;
using BrainMClip.IO;

namespace BrainMClip.Evaluation;

/// <summary>Writes a layer analysis as rsa.csv, cka.csv, rsa.png, cka.png and layers.json into a folder.</summary>
public static class LayerAnalysisWriter
{
    public static IReadOnlyList<string> Write(LayerAnalysisResult r, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        void Save(string name, byte[] bytes) { var p = Path.Combine(dir, name); AtomicFile.WriteAllBytes(p, bytes); files.Add(p); }
        Save("rsa.csv", Encoding.UTF8.GetBytes(Csv(r.Rsa, r.LayerNames, r.RoiNames, "layer")));
        Save("cka.csv", Encoding.UTF8.GetBytes(Csv(r.Cka, r.LayerNames, r.LayerNames, "layer")));
        Save("rsa.png", Plots.Heatmap(r.Rsa, r.LayerNames, r.RoiNames, "RSA: Spearman(layer RDM, ROI RDM)"));
        Save("cka.png", Plots.Heatmap(r.Cka, r.LayerNames, r.LayerNames, "Linear CKA between CLIP layers"));
        var json = new
        {
            layers = r.LayerNames,
            rois = r.RoiNames,
            rsa = ToJagged(r.Rsa),
            cka = ToJagged(r.Cka),
            best_layer_per_roi = r.RoiNames.Select((roi, j) => new { roi, layer = r.LayerNames[ArgMax(r.Rsa, j)] }).ToArray(),
        };
        Save("layers.json", JsonSerializer.SerializeToUtf8Bytes(json, new JsonSerializerOptions { WriteIndented = true }));
        return files;
    }

    static int ArgMax(double[,] m, int col)
    {
        int best = 0;
        for (int i = 1; i < m.GetLength(0); i++) if (m[i, col] > m[best, col]) best = i;
        return best;
    }

    static double[][] ToJagged(double[,] m) =>
        Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray()).ToArray();

    public static string Csv(double[,] m, IReadOnlyList<string> rows, IReadOnlyList<string> cols, string corner)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", new[] { corner }.Concat(cols).Select(Quote)));
        for (int i = 0; i < rows.Count; i++)
            sb.AppendLine(string.Join(",", new[] { Quote(rows[i]) }.Concat(Enumerable.Range(0, cols.Count).Select(j => m[i, j].ToString("R", CultureInfo.InvariantCulture)))));
        return sb.ToString();
    }

    static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    /// <summary>Reads a CSV written by <see cref="Csv"/> back as (row labels, column labels, values).</summary>
    public static (string[] rows, string[] cols, double[,] values) ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        if (lines.Length < 2) throw new UserInputException($"{path}: expected a header and at least one row");
        var cols = lines[0].Split(',').Skip(1).ToArray();
        var rows = new string[lines.Length - 1];
        var v = new double[rows.Length, cols.Length];
        for (int i = 1; i < lines.Length; i++)
        {
            var parts = lines[i].Split(',');
            if (parts.Length != cols.Length + 1) throw new UserInputException($"{path}: line {i + 1} has {parts.Length} fields, expected {cols.Length + 1}");
            rows[i - 1] = parts[0];
            for (int j = 0; j < cols.Length; j++)
                if (!double.TryParse(parts[j + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i - 1, j]))
                    throw new UserInputException($"{path}: line {i + 1}: '{parts[j + 1]}' is not a number");
        }
        return (rows, cols, v);
    }
}
