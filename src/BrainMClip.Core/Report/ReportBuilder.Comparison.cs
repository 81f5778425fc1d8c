using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.Evaluation;
using BrainMClip.Evaluation.Networks;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Report;

/// <summary>
/// The sections that compare reconstruction rows: ground truth | from true features (upper bound) | BrainMCLIP |
/// baselines, per image, and one metrics/retrieval column per row. Published NSD figures appear only beside real NSD
/// data, with their protocol; a synthetic run compares its own rows.
/// </summary>
public static partial class ReportBuilder
{
    const int GridColumns = 8;

    /// <summary>The reconstruction rows in display order: upper bound, main, baselines.</summary>
    static List<ReportRow> Rows(ReportInputs i)
    {
        var rows = new List<ReportRow>();
        if (i.UpperBound != null) rows.Add(i.UpperBound);
        rows.Add(new ReportRow(i.MainLabel, i.ReconDir, i.MetricsJson, i.RetrievalJson));
        rows.AddRange(i.Baselines);
        return rows;
    }

    /// <summary>Where the test data comes from (explicit data root, else the ground truth's path).</summary>
    public static DataProvenance Provenance(ReportInputs i) =>
        i.DataRoot != null ? DataProvenance.FromDataRoot(i.DataRoot)
        : i.TruthSource != null ? DataProvenance.FromPath(i.TruthSource) : DataProvenance.Unknown;

    static string Td(string cell, bool main) => $"<td{(main ? " class=\"ours\"" : "")}>{cell}</td>";

    // ---------------------------------------------------------------- grid
    static string Grid(ReportInputs i)
    {
        if (i.ReconDir == null) return Missing("no reconstruction folder given.");
        var rows = Rows(i).Where(r => r.ReconDir != null)
            .Select(r => (r.Label, Set: ImageSet.Open(r.ReconDir!), Tips: PerImageTips(r.MetricsJson))).ToList();
        var main = rows.First(r => r.Label == i.MainLabel).Set;
        ImageSet? truth = i.TruthSource == null ? null : ImageSet.Open(i.TruthSource);
        var idx = main.Indices.Take(i.MaxGridImages).ToList();
        var labels = (truth == null ? [] : new[] { "ground truth" }).Concat(rows.Select(r => r.Label));
        var sb = new StringBuilder();
        sb.Append($"<p>{idx.Count} of {main.Indices.Count} test images. Per image, top to bottom: ");
        sb.Append(H(string.Join(" | ", labels)));
        if (i.UpperBound != null)
            sb.Append($". <b>{H(i.UpperBound.Label)}</b>: the same generator, seeds and sampler conditioned on the " +
                      "true CLIP features, i.e. what perfect decoding would give with this generator");
        if (truth == null) sb.Append(" (no ground truth given)");
        sb.Append(".</p>\n");
        for (int start = 0; start < idx.Count; start += GridColumns)
        {
            var block = idx.Skip(start).Take(GridColumns).ToList();
            sb.Append("<table class=\"recgrid\"><tr><th></th>");
            foreach (int k in block) sb.Append($"<th>#{k}</th>");
            sb.Append("</tr>");
            if (truth != null) AppendImageRow(sb, "ground truth", truth, block, null, i.ThumbnailSize, "gt");
            foreach (var (label, set, tips) in rows)
                AppendImageRow(sb, label, set, block, tips, i.ThumbnailSize, label == i.MainLabel ? "rec" : "alt");
            sb.Append("</table>\n");
        }
        return sb.ToString();
    }

    static void AppendImageRow(StringBuilder sb, string label, ImageSet set, List<int> block,
        Dictionary<int, string>? tips, int size, string cls)
    {
        sb.Append($"<tr><th class=\"rowlabel\">{H(label)}</th>");
        foreach (int k in block)
        {
            if (!set.Contains(k)) { sb.Append("<td class=\"none\">—</td>"); continue; }
            string tip = tips != null && tips.TryGetValue(k, out var t) && t.Length > 0 ? ": " + t : "";
            string img = Img(Thumb(set.Read(k), size), $"{label} {k}", cls);
            sb.Append($"<td title=\"{H($"{label} #{k}{tip}")}\">{img}</td>");
        }
        sb.Append("</tr>");
    }

    /// <summary>Per-image PixCorr / SSIM / CLIP from a METRICS.json, by image number, for tooltips.</summary>
    static Dictionary<int, string> PerImageTips(string? metricsJson)
    {
        var tips = new Dictionary<int, string>();
        if (metricsJson == null || !File.Exists(metricsJson)) return tips;
        var m = MetricsReport.Load(metricsJson);
        var shown = new[] { ("pixcorr", "PixCorr"), ("ssim", "SSIM"), ("clip", "CLIP 2-way") };
        for (int p = 0; p < m.Indices.Count; p++)
            tips[m.Indices[p]] = string.Join(" · ", shown
                .Where(x => m.Metrics.TryGetValue(x.Item1, out var r) && p < r.PerImage.Count)
                .Select(x => $"{x.Item2} {F2(m.Metrics[x.Item1].PerImage[p])}"));
        return tips;
    }

    static string F2(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    static byte[] Thumb(RgbImage img, int size)
    {
        using var scope = NewDisposeScope();
        var t = ImageTensors.ToTensor01(img).unsqueeze(0);
        // Antialiased for display only (metrics never use this path).
        var r = nn.functional.interpolate(t, [size, size], mode: InterpolationMode.Bilinear, align_corners: false,
            antialias: true);
        return ImageIO.EncodePng(ImageTensors.ToImage(r));
    }

    // ---------------------------------------------------------------- metrics
    static string Metrics(ReportInputs i)
    {
        if (i.MetricsJson == null) return Missing("no METRICS.json given; run `brainmclip evaluate`.");
        var rows = Rows(i).Where(r => r.MetricsJson != null)
            .Select(r => (r.Label, M: MetricsReport.Load(r.MetricsJson!))).ToList();
        var main = rows.First(r => r.Label == i.MainLabel).M;
        var source = Provenance(i);
        bool published = source.Kind == DataKind.RealNsd;
        var sb = new StringBuilder();
        sb.Append($"<p>n = {string.Join(" / ", rows.Select(r => r.M.N).Distinct())} test images. ");
        sb.Append("↑ higher is better, ↓ lower is better. ").Append(SourceNote(source, main.N)).Append("</p>");
        sb.Append("<table class=\"metrics\"><tr><th>metric</th>");
        foreach (var (label, _) in rows) sb.Append($"<th>{H(label)}</th>");
        if (published) sb.Append("<th>MindEye1</th><th>MindEye2</th>");
        sb.Append("</tr>");
        foreach (var info in PublishedFigures.Metrics)
        {
            string random = rows.Any(r => r.M.IsRandom(info.Key)) ? " <span class=\"random\">random net</span>" : "";
            sb.Append($"<tr><td>{H(info.Label)} {(info.HigherIsBetter ? "↑" : "↓")}{random}</td>");
            foreach (var (label, m) in rows) sb.Append(Td(MetricCell(info, m), label == i.MainLabel));
            if (published)
                sb.Append($"<td>{Published(PublishedFigures.MindEye1, info)}</td>" +
                          $"<td>{Published(PublishedFigures.MindEye2, info)}</td>");
            sb.Append("</tr>");
        }
        sb.Append("</table>");
        sb.Append(WeightsNote(rows.Select(r => r.M)));
        var skips = rows.SelectMany(r => r.M.Skipped.Select(kv => (r.Label, kv.Key, kv.Value))).ToList();
        if (skips.Count > 0)
        {
            sb.Append("<ul class=\"skips\">");
            foreach (var (label, k, why) in skips) sb.Append($"<li>{H(label)}: <b>{H(k)}</b> skipped: {H(why)}</li>");
            sb.Append("</ul>");
        }
        sb.Append(PerImagePlot(rows));
        return sb.ToString();
    }

    static string MetricCell(PublishedFigures.MetricInfo info, MetricsReport m) =>
        m.Metrics.TryGetValue(info.Key, out var r) ? PublishedFigures.Format(info, r.Mean)
        : m.Skipped.TryGetValue(info.Key, out var why) ? $"<span class=\"skip\" title=\"{H(why)}\">skipped</span>"
        : "—";

    static string Published(IReadOnlyDictionary<string, double> figures, PublishedFigures.MetricInfo info) =>
        figures.TryGetValue(info.Key, out var v) ? PublishedFigures.Format(info, v) : "—";

    /// <summary>What the data is and what the published columns mean (or why there are none).</summary>
    static string SourceNote(DataProvenance source, int n) => source.Kind switch
    {
        DataKind.Synthetic =>
            $"Data: {H(source.Describe())}. Published NSD figures are not shown: they were measured on real NSD " +
            "data and a synthetic run is no comparison with them; compare the rows of this run instead.",
        DataKind.RealNsd =>
            $"Data: {H(source.Describe())}. Published figures: {H(PublishedFigures.Protocol)}" +
            (source.Subject == PublishedFigures.Subject && n == PublishedFigures.TestImages ? ""
                : $" <b>This run differs (subject {source.Subject?.ToString() ?? "?"}, {n} test images): the " +
                  "published columns are context, not a like-for-like comparison.</b>"),
        _ => "Data source unknown (give the data root): published NSD figures are shown only beside results on " +
             "real NSD data.",
    };

    /// <summary>A warning naming the networks with random weights (nets-init) and where the others came from.</summary>
    static string WeightsNote(IEnumerable<MetricsReport> reports)
    {
        var weights = reports.SelectMany(m => m.NetworkWeights).GroupBy(kv => kv.Key)
            .ToDictionary(g => g.Key, g => g.First().Value);
        if (weights.Count == 0) return "";
        var random = weights
            .Where(kv => kv.Value.StartsWith(RandomMetricNetworks.RandomLabel, StringComparison.Ordinal))
            .Select(kv => kv.Key).ToList();
        var sb = new StringBuilder("<p class=\"randomnote\">");
        if (random.Count > 0)
            sb.Append($"<b>Random-weight metric networks</b> ({H(string.Join(", ", random))}; written by " +
                      "<code>brainmclip nets-init</code>): the metrics marked " +
                      "<span class=\"random\">random net</span> " +
                      "exercise the evaluation, they do not measure perceptual similarity. ");
        foreach (var (net, w) in weights.Where(kv => !random.Contains(kv.Key))) sb.Append($"{H(net)}: {H(w)}. ");
        return sb.Append("Real weights: docs/metrics-weights.md.</p>").ToString();
    }

    static string PerImagePlot(List<(string Label, MetricsReport M)> rows)
    {
        var series = new Dictionary<string, (double[] x, double[] y)>();
        foreach (var (label, m) in rows)
            foreach (var k in new[] { "pixcorr", "ssim" })
                if (m.Metrics.TryGetValue(k, out var r) && r.PerImage.Count > 0)
                {
                    var sorted = r.PerImage.Where(double.IsFinite).OrderBy(v => v).ToArray();
                    var ranks = Enumerable.Range(0, sorted.Length).Select(x => (double)x).ToArray();
                    series[$"{label} {k}"] = (ranks, sorted);
                }
        if (series.Count == 0) return "";
        return Img(Plots.Lines(series, "image rank", "Per-image PixCorr / SSIM (sorted)"), "per-image metrics", "plot");
    }

    // ---------------------------------------------------------------- retrieval
    static readonly (string Key, string Label, string Published)[] RetrievalQuantities =
    [
        ("image_to_brain_top1", "image → brain top-1", "image_to_brain"),
        ("brain_to_image_top1", "brain → image top-1", "brain_to_image"),
    ];

    static string Retrieval(ReportInputs i)
    {
        if (i.RetrievalJson == null)
            return Missing("no retrieval JSON given; run `brainmclip retrieve`.");
        var rows = Rows(i).Where(r => r.RetrievalJson != null)
            .Select(r => (r.Label, Root: ReadJson(r.RetrievalJson!) as JsonObject)).ToList();
        var streams = rows.SelectMany(r => r.Root?.Where(kv => kv.Value is JsonObject).Select(kv => kv.Key) ?? [])
            .Distinct().ToList();
        if (streams.Count == 0)
            return Missing($"{i.RetrievalJson} holds no retrieval streams (expected `brainmclip retrieve`'s JSON).");
        var source = Provenance(i);
        bool published = source.Kind == DataKind.RealNsd;
        var sb = new StringBuilder("<table class=\"metrics\"><tr><th>stream</th><th>quantity</th>");
        foreach (var (label, _) in rows) sb.Append($"<th>{H(label)}</th>");
        if (published) sb.Append("<th>MindEye1</th><th>MindEye2</th>");
        sb.Append("</tr>");
        foreach (var stream in streams)
            foreach (var (key, label, pub) in RetrievalQuantities)
            {
                sb.Append($"<tr><td>{H(stream)}</td><td>{H(label)}</td>");
                foreach (var (rowLabel, root) in rows)
                {
                    string cell = Num(root?[stream]?[key]) is { } v ? $"{v * 100:F2}%" : "—";
                    sb.Append(Td(cell, rowLabel == i.MainLabel));
                }
                // MindEye's figures are CLIP-embedding retrieval: beside the semantic stream only.
                if (published)
                    sb.Append(stream != "semantic" ? "<td>—</td><td>—</td>"
                        : $"<td>{PublishedFigures.MindEye1[pub] * 100:F2}%</td>" +
                          $"<td>{PublishedFigures.MindEye2[pub] * 100:F2}%</td>");
                sb.Append("</tr>");
            }
        sb.Append("</table><p>Top-1 retrieval: the fraction of test images whose own brain prediction is the most " +
                  "similar (flattened, L2-normalised tokens) among a batch of candidates, and back. Protocol of this " +
                  "run: ");
        sb.Append(H(string.Join("; ", rows.Select(r => $"{r.Label}: {RetrievalProtocol(r.Root)}"))));
        bool sameProtocol = rows.All(r => RetrievalProtocol(r.Root).StartsWith(
            $"{PublishedFigures.RetrievalWay}-way, {PublishedFigures.RetrievalLoops} loops", StringComparison.Ordinal));
        if (published && !sameProtocol)
            sb.Append(
                ". <b>This run's protocol differs from the published one: the MindEye columns are context, not a " +
                      "like-for-like comparison</b>");
        sb.Append(published ? $". Published: {H(PublishedFigures.Protocol)}</p>"
            : ". No published figures: " + (source.Kind == DataKind.Synthetic ? "synthetic data." : "data source " +
              "unknown (no data root given).") + "</p>");
        return sb.ToString();
    }

    /// <summary>"100-way, 1 loop, chance 1.00%" from the loops/batch fields (metadata, not results).</summary>
    static string RetrievalProtocol(JsonObject? root)
    {
        var first = root?.Select(kv => kv.Value).OfType<JsonObject>().FirstOrDefault();
        if (Num(first?["batch"]) is not { } batch || Num(first?["loops"]) is not { } loops)
            return "batch and loops not recorded";
        return $"{batch:0}-way, {loops:0} loop{(loops == 1 ? "" : "s")}, chance {100 / batch:F2}%";
    }

    const string ComparisonCss = """
        table.recgrid{border-collapse:collapse;margin:6px 0 14px}
        table.recgrid td,table.recgrid th{border:none;padding:2px;text-align:center}
        table.recgrid th{background:none;font-size:12px;color:#5a6470;font-weight:600}
        th.rowlabel{text-align:right;padding-right:8px;max-width:110px}
        table.recgrid img{display:block;border:1px solid #ccd} td.none{color:#999}
        .random{font-size:11px;color:#8a2a00;background:#ffece6;border-radius:3px;padding:0 4px;font-weight:600}
        .randomnote{color:#6a3a00;background:#fff4ec;border-left:4px solid #e07000;padding:6px 10px}
        """;
}
