using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Evaluation;

public sealed record MetricResult(double Mean, IReadOnlyList<double> PerImage);

/// <summary>METRICS.json (docs/file-formats.md): <c>{"n", "metrics": {name: {"mean", "per_image"}}, "skipped": {name:
/// why}}</c>, plus <c>"networks"</c> (which weight files were used) and <c>"indices"</c> (image numbers in per_image
/// order).</summary>
public sealed class MetricsReport
{
    public int N { get; init; }
    public Dictionary<string, MetricResult> Metrics { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Skipped { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string?> Networks { get; } = new(StringComparer.Ordinal);
    /// <summary>Network → origin of its weights, for weights `nets-init` wrote (random); absent = as given.</summary>
    public Dictionary<string, string> NetworkWeights { get; } = new(StringComparer.Ordinal);

    /// <summary>The network behind a metric (alexnet2 → alexnet, clip → clip, ...); null for pixel metrics.</summary>
    public static string? NetworkOf(string metric) =>
        metric == "clip" ? "clip" : Evaluator.NetworkFiles.FirstOrDefault(x => x.metrics.Contains(metric)).net;

    /// <summary>Whether a metric was computed with random-weight networks (see <see cref="NetworkWeights"/>).</summary>
    public bool IsRandom(string metric) =>
        NetworkOf(metric) is { } net && NetworkWeights.TryGetValue(net, out var w)
        && w.StartsWith(BrainMClip.Evaluation.Networks.RandomMetricNetworks.RandomLabel, StringComparison.Ordinal);
    public IReadOnlyList<int> Indices { get; init; } = [];

    public string ToJson()
    {
        var metrics = new JsonObject();
        foreach (var m in PublishedFigures.Metrics.Select(m => m.Key).Where(Metrics.ContainsKey)
                     .Concat(Metrics.Keys.Where(k => PublishedFigures.Metrics.All(m => m.Key != k))))
        {
            var r = Metrics[m];
            metrics[m] = new JsonObject
            {
                ["mean"] = Finite(r.Mean),
                ["per_image"] = new JsonArray(r.PerImage.Select(v => (JsonNode?)Finite(v)).ToArray()),
            };
        }
        var skipped = new JsonObject();
        foreach (var (k, v) in Skipped) skipped[k] = v;
        var nets = new JsonObject();
        foreach (var (k, v) in Networks) nets[k] = v;
        var weights = new JsonObject();
        foreach (var (k, v) in NetworkWeights) weights[k] = v;
        var root = new JsonObject
        {
            ["n"] = N,
            ["metrics"] = metrics,
            ["skipped"] = skipped,
            ["networks"] = nets,
            ["network_weights"] = weights,
            ["indices"] = new JsonArray(Indices.Select(i => (JsonNode)i).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    static JsonNode? Finite(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    public static MetricsReport Load(string path)
    {
        UserInputException.RequireFile(path, "metrics JSON");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
        if (root is not JsonObject o || o["metrics"] is not JsonObject metrics)
            throw new UserInputException($"{path}: expected a METRICS.json object with \"n\" and \"metrics\"");
        var report = new MetricsReport
        {
            N = o["n"]?.GetValue<int>() ?? 0,
            Indices = (o["indices"] as JsonArray)?.Select(x => x?.GetValue<int>() ?? -1).ToList() ?? [],
        };
        try
        {
            foreach (var (k, v) in metrics)
            {
                if (v is not JsonObject mo) continue;
                double mean = mo["mean"]?.GetValue<double>() ?? double.NaN;
                var per = (mo["per_image"] as JsonArray)?.Select(x => x?.GetValue<double>() ?? double.NaN).ToList()
                    ?? [];
                report.Metrics[k] = new MetricResult(mean, per);
            }
            if (o["skipped"] is JsonObject sk)
                foreach (var (k, v) in sk) report.Skipped[k] = v?.ToString() ?? "";
            if (o["networks"] is JsonObject nets)
                foreach (var (k, v) in nets) report.Networks[k] = v?.ToString();
            if (o["network_weights"] is JsonObject nw)
                foreach (var (k, v) in nw) report.NetworkWeights[k] = v?.ToString() ?? "";
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new UserInputException($"{path}: malformed metric entry ({e.Message})");
        }
        return report;
    }

    /// <summary>
    /// A plain-text table of our means; beside MindEye1/MindEye2's published subject-1 figures only when
    /// <paramref name="published"/> (real NSD data: a synthetic run is no comparison with them).
    /// Metrics computed with random-weight networks are marked "(random net)".
    /// </summary>
    public string FormatTable(bool published = false)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(published ? $"{"metric",-22} {"ours",10} {"MindEye1",10} {"MindEye2",10}   (n = {N})"
                                : $"{"metric",-22} {"ours",10}   (n = {N})");
        foreach (var m in PublishedFigures.Metrics)
        {
            string ours = Metrics.TryGetValue(m.Key, out var r) ? PublishedFigures.Format(m, r.Mean)
                : Skipped.ContainsKey(m.Key) ? "skipped" : "—";
            string label = m.Label + (m.HigherIsBetter ? " ↑" : " ↓");
            string random = IsRandom(m.Key) ? "   (random net)" : "";
            if (!published) { sb.AppendLine($"{label,-22} {ours,10}{random}"); continue; }
            string me1 = PublishedFigures.MindEye1.TryGetValue(m.Key, out var a) ? PublishedFigures.Format(m, a) : "—";
            string me2 = PublishedFigures.MindEye2.TryGetValue(m.Key, out var b) ? PublishedFigures.Format(m, b) : "—";
            sb.AppendLine($"{label,-22} {ours,10} {me1,10} {me2,10}{random}");
        }
        if (published) sb.AppendLine($"published: {PublishedFigures.Protocol}");
        foreach (var (k, why) in Skipped) sb.AppendLine($"skipped {k}: {why}");
        foreach (var (k, w) in NetworkWeights) sb.AppendLine($"{k}: {w}");
        return sb.ToString();
    }
}
