using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Evaluation;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Report;

/// <summary>Inputs of the HTML report; every one is optional and its section says so when it is missing.</summary>
public sealed record ReportInputs
{
    /// <summary>Training run folder (metrics.jsonl, config, optional params.json / curves PNG).</summary>
    public string? RunDir { get; init; }
    public string? MetricsJson { get; init; }
    public string? RetrievalJson { get; init; }
    public string? ReconDir { get; init; }
    /// <summary>Ground truth for the grid: a folder of numbered images or an .npy (N,H,W,3).</summary>
    public string? TruthSource { get; init; }
    /// <summary>analyze-layers output folder (rsa.csv, cka.csv, rsa.png, cka.png).</summary>
    public string? LayersDir { get; init; }
    public string? ParamsJson { get; init; }
    public string? AblationsJson { get; init; }
    public string Title { get; init; } = "BrainMClip report";
    /// <summary>At most this many pairs in the image grid.</summary>
    public int MaxGridImages { get; init; } = 16;
    /// <summary>Side of the grid thumbnails in pixels.</summary>
    public int ThumbnailSize { get; init; } = 128;
    /// <summary>Name of the main row (<see cref="ReconDir"/>, <see cref="MetricsJson"/>, <see
    /// cref="RetrievalJson"/>).</summary>
    public string MainLabel { get; init; } = "BrainMCLIP";
    /// <summary>Images rendered from the true CLIP features (reconstruct --truth-features) and their metrics.</summary>
    public ReportRow? UpperBound { get; init; }
    /// <summary>Further rows after the main one, e.g. the ridge baseline.</summary>
    public IReadOnlyList<ReportRow> Baselines { get; init; } = [];
    /// <summary>
    /// The data root the test images come from; decides whether published NSD figures may be shown (real NSD only).
    /// Null: derived from <see cref="TruthSource"/>'s path.
    /// </summary>
    public string? DataRoot { get; init; }
}

/// <summary>One reconstruction row of the report: its images, METRICS.json and retrieval JSON (each
/// optional).</summary>
public sealed record ReportRow(string Label, string? ReconDir, string? MetricsJson = null,
    string? RetrievalJson = null);

/// <summary>
/// Builds a self-contained report.html (CSS inline, images embedded as base64 PNG, no external assets): image grid,
/// metrics beside the published figures, retrieval, training curves, ablations, parameter counts, layer analysis.
/// </summary>
public static partial class ReportBuilder
{
    /// <summary>Section ids in page order (stable: tests and users link to them).</summary>
    public static readonly string[] SectionIds = ["grid", "metrics", "retrieval", "training", "ablations", "params",
        "layers"];

    /// <summary>Writes the report atomically and returns its path.</summary>
    public static string Write(ReportInputs inputs, string outPath)
    {
        AtomicFile.WriteAllText(outPath, Build(inputs));
        return outPath;
    }

    public static string Build(ReportInputs inputs)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append($"<title>{H(inputs.Title)}</title><style>{Css}{ComparisonCss}</style></head><body>\n");
        sb.Append(
            $"<header><h1>{H(inputs.Title)}</h1><p class=\"sub\">Generated {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC by " +
            $"brainmclip. ");
        sb.Append("fMRI → CLIP hidden layers → diffusion image reconstruction (BrainMCLIP).</p><nav>");
        foreach (var id in SectionIds) sb.Append($"<a href=\"#{id}\">{H(SectionTitle(id))}</a>");
        sb.Append("</nav></header>\n");
        Section(sb, "grid", () => Grid(inputs));
        Section(sb, "metrics", () => Metrics(inputs));
        Section(sb, "retrieval", () => Retrieval(inputs));
        Section(sb, "training", () => Training(inputs));
        Section(sb, "ablations", () => Ablations(inputs));
        Section(sb, "params", () => Params(inputs));
        Section(sb, "layers", () => Layers(inputs));
        // Marks whether every embedded image decoded (read by the headless-browser test; harmless otherwise).
        sb.Append(
            "<script>window.addEventListener('load',function(){var im=document.images,ok=0;for(var " +
            "i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;document.body.setAttribute('data-images" +
            "-total',im.length);document.body.setAttribute('data-images-decoded',ok);});</script>\n");
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    static string SectionTitle(string id) => id switch
    {
        "grid" => "Reconstructions",
        "metrics" => "Metrics",
        "retrieval" => "Retrieval",
        "training" => "Training",
        "ablations" => "Ablations",
        "params" => "Parameters",
        "layers" => "Layer analysis",
        _ => id,
    };

    static void Section(StringBuilder sb, string id, Func<string> body)
    {
        string content;
        try { content = body(); }
        catch (UserInputException e) { content = Missing($"could not be built: {e.Message}"); }
        sb.Append($"<section id=\"{id}\"><h2>{H(SectionTitle(id))}</h2>\n{content}</section>\n");
    }

    static string Missing(string why) => $"<p class=\"missing\">Not available: {H(why)}</p>\n";

    static string H(string? s) => WebUtility.HtmlEncode(s ?? "");

    static string Img(byte[] png, string alt, string cls = "") =>
        $"<img class=\"{cls}\" alt=\"{H(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">";

    static string F(double v) =>
        double.IsNaN(v) ? "—" : v.ToString(Math.Abs(v) >= 1000 ? "N0" : "0.####", CultureInfo.InvariantCulture);

    // grid, metrics and retrieval (one column per reconstruction row): ReportBuilder.Comparison.cs

    // ---------------------------------------------------------------- training
    static string Training(ReportInputs i)
    {
        if (i.RunDir == null) return Missing("no training run folder given.");
        if (!Directory.Exists(i.RunDir)) throw new UserInputException($"{i.RunDir}: run folder not found");
        var sb = new StringBuilder();
        string jsonl = Path.Combine(i.RunDir, "metrics.jsonl");
        bool any = false;
        if (File.Exists(jsonl))
        {
            var records = File.ReadLines(jsonl).Where(l => l.Trim().Length > 0).Select((l, n) =>
            {
                try { return JsonNode.Parse(l) as JsonObject; }
                catch (JsonException e)
                { throw new UserInputException($"{jsonl}: line {n + 1} is not JSON ({e.Message})"); }
            }).Where(o => o != null).Select(o => o!).ToList();
            if (records.Count > 0)
            {
                string xKey = records.All(r => Num(r["epoch"]) != null) ? "epoch" : records.All(r =>
                    Num(r["step"]) != null) ? "step" : "";
                var xs = records.Select((r, n) => xKey == "" ? n : Num(r[xKey])!.Value).ToArray();
                var keys = records.SelectMany(r => r.Select(kv => kv.Key)).Distinct()
                    .Where(k => k != xKey && k != "step" && k != "epoch" && records.Any(r => Num(r[k]) != null))
                        .ToList();
                // Losses on one plot (log scale when components differ by orders of magnitude), validation scores on
                // another; rates and timings (lr, samples_per_second, seconds) only in the text line below.
                var losses = new Dictionary<string, (double[], double[])>();
                var vals = new Dictionary<string, (double[], double[])>();
                foreach (var k in keys)
                {
                    var pts = records.Select((r, n) => (x: xs[n], y: Num(r[k]))).Where(p => p.y != null).ToArray();
                    var series = (pts.Select(p => p.x).ToArray(), pts.Select(p => p.y!.Value).ToArray());
                    if (k.Contains("loss", StringComparison.OrdinalIgnoreCase)) losses[k] = series;
                    else if (k.StartsWith("val", StringComparison.OrdinalIgnoreCase)) vals[k] = series;
                }
                string xl = xKey == "" ? "record" : xKey;
                if (losses.Count > 0)
                {
                    var pos = losses.Values.SelectMany(v => v.Item2).Where(v => v > 0).ToArray();
                    bool log = pos.Length > 0 && pos.Max() / pos.Min() > 100;
                    sb.Append(
                        Img(Plots.Lines(losses, xl, log ? "Training losses (log10)" : "Training losses", logY: log),
                        "training losses", "plot"));
                }
                if (vals.Count > 0) sb.Append(Img(Plots.Lines(vals, xl, "Validation"), "validation metrics", "plot"));
                sb.Append($"<p>{records.Count} records from {H(Path.GetFileName(jsonl))}; last: ");
                sb.Append(
                    string.Join(", ", records[^1].Where(kv => Num(kv.Value) != null)
                    .Select(kv => $"{H(kv.Key)} = {F(Num(kv.Value)!.Value)}")));
                sb.Append("</p>");
                any = true;
            }
        }
        foreach (var png in Directory.GetFiles(i.RunDir, "*.png").OrderBy(p => p, StringComparer.Ordinal).Take(4))
        {
            sb.Append(Img(File.ReadAllBytes(png), Path.GetFileName(png), "plot"));
            any = true;
        }
        return any ? sb.ToString() : Missing($"{i.RunDir} has no metrics.jsonl or training plot.");
    }

    // ---------------------------------------------------------------- ablations / params
    static string Ablations(ReportInputs i)
    {
        if (i.AblationsJson == null) return Missing(
            "no ablation results given (`brainmclip ablate` writes ablations.json).");
        var root = ReadJson(i.AblationsJson);
        // `brainmclip ablate`: {"test_samples", "variants": [{"variant", "semantic": {...}, "detail": {...}, ...}]}.
        if (root is JsonObject o && o["variants"] is JsonArray variants)
        {
            var sb = new StringBuilder();
            if (Num(o["test_samples"]) is { } n) sb.Append(
                $"<p>Retrieval top-1 on {n:0} test samples per ablation variant (chance = 1/300 or 1/N).</p>");
            return sb.Append(JsonTable(variants, "variant")).ToString();
        }
        return JsonTable(root, "variant");
    }

    static string Params(ReportInputs i)
    {
        string? path = i.ParamsJson
            ?? (i.RunDir != null
            && File.Exists(Path.Combine(i.RunDir, "params.json")) ? Path.Combine(i.RunDir, "params.json") : null);
        var sb = new StringBuilder();
        if (path == null) sb.Append(
            Missing("no parameter counts given (`brainmclip params` writes them)."));
        else
        {
            var root = ReadJson(path);
            // `brainmclip params --json`: {"config", "total", "modules": {name: {"total", "parts"}},
            // "fraction_of_mindeye1", ...}.
            if (root is JsonObject o && o["modules"] is JsonObject modules)
            {
                sb.Append(
                    $"<p>Preset <b>{H(o["config"]?.ToString())}</b>, voxels detail/semantic " +
                    $"{H(o["voxels_detail"]?.ToString())}/{H(o["voxels_semantic"]?.ToString())}.</p>");
                sb.Append("<table><tr><th>module</th><th>parameters</th><th>parts</th></tr>");
                foreach (var (name, m) in modules)
                {
                    var parts = (m?["parts"] as JsonObject)?.Select(kv => $"{kv.Key} {F(Num(kv.Value) ?? double.NaN)}")
                        ?? [];
                    sb.Append(
                        $"<tr><td>{H(name)}</td><td>{F(Num(m?["total"]) ?? double.NaN)}</td><td " +
                        $"class=\"parts\">{H(string.Join(", ", parts))}</td></tr>");
                }
                sb.Append($"<tr><th>total</th><th>{F(Num(o["total"]) ?? double.NaN)}</th><th></th></tr></table>");
                sb.Append(ReferenceComparison(o));
            }
            else sb.Append(JsonTable(root, "module"));
        }
        sb.Append(
            "<p>As published (docs/model.md, computed from the authors' code at NSD subject 1's sizes, 15,724 voxels " +
            "and 257×768 targets): MindBridge single subject 561,283,712; MindEye1 voxel→CLIP network 947,579,904 " +
            "— to be compared with the <code>paper</code> preset at those sizes, not with a smaller " +
            "configuration.</p>");
        return sb.ToString();
    }

    /// <summary>
    /// The "fewer parameters" sentence, only against references counted at this configuration's own voxel and target
    /// sizes (params.json's <c>reference_sizes</c>); a params.json without them (written before issue 29) gets no
    /// comparison, since its MindEye1 figure was at NSD subject 1's sizes whatever the configuration.
    /// </summary>
    static string ReferenceComparison(JsonObject o)
    {
        if (o["reference_sizes"] is not JsonObject sizes || o["references"] is not JsonObject refs)
            return "<p>No reference counts at this configuration's sizes (params.json predates them; rerun " +
                "<code>brainmclip params</code>).</p>";
        var rows = refs.Select(kv => (kv.Value?["name"]?.ToString() ?? kv.Key, Num(kv.Value?["total"]),
            Num(kv.Value?["fraction_ours"]))).Where(r => r.Item2 is not null && r.Item3 is not null)
            .Select(r => $"{H(r.Item1)} {F(r.Item2!.Value)} ({(1 - r.Item3!.Value) * 100:F1}% fewer)");
        return $"<p>At the same sizes ({H(sizes["label"]?.ToString())}), counted with the same counter and " +
            $"each reference's published hidden layers: {string.Join("; ", rows)}. The paper reports 71.7% fewer " +
            "parameters than the top VAE-based method.</p>";
    }

    /// <summary>A table from arbitrary JSON: an array of objects or an object of objects → rows; otherwise key/value
    /// rows.</summary>
    static string JsonTable(JsonNode root, string firstColumn)
    {
        List<(string name, JsonObject obj)>? rows = root switch
        {
            JsonArray arr when arr.All(x => x is JsonObject) =>
                arr.Select((x, n) =>
                ((x as JsonObject)!["name"]?.ToString() ?? (x as JsonObject)!["variant"]?.ToString() ?? $"#{n}",
                (JsonObject)x!)).ToList(),
            JsonObject obj when obj.Count > 0
                && obj.All(kv => kv.Value is JsonObject) => obj.Select(kv => (kv.Key, (JsonObject)kv.Value!)).ToList(),
            _ => null,
        };
        var sb = new StringBuilder("<table>");
        if (rows != null)
        {
            // Nested objects (e.g. {"semantic": {"image_to_brain_top1": ...}}) become dotted columns.
            var flat = rows.Select(r =>
                (r.name, cells: FlattenRow(r.obj).Where(kv => kv.Key is not ("name" or "variant")).ToList())).ToList();
            var cols = flat.SelectMany(r => r.cells.Select(kv => kv.Key)).Distinct().ToList();
            sb.Append($"<tr><th>{H(firstColumn)}</th>{string.Concat(cols.Select(c => $"<th>{H(c)}</th>"))}</tr>");
            foreach (var (name, cells) in flat)
            {
                var d = cells.ToDictionary(kv => kv.Key, kv => kv.Value);
                sb.Append(
                    $"<tr><td>{H(name)}</td>" +
                    $"{string.Concat(cols.Select(c => $"<td>{(d.TryGetValue(c, out var v) ? Cell(v) : "")}</td>"))}</" +
                    $"tr>");
            }
        }
        else
        {
            sb.Append("<tr><th>field</th><th>value</th></tr>");
            foreach (var (k, v) in FlattenAll(root)) sb.Append($"<tr><td>{H(k)}</td><td>{H(v)}</td></tr>");
        }
        return sb.Append("</table>").ToString();
    }

    static IEnumerable<KeyValuePair<string, JsonNode?>> FlattenRow(JsonObject o, string prefix = "")
    {
        foreach (var (k, v) in o)
        {
            string key = prefix == "" ? k : $"{prefix}.{k}";
            if (v is JsonObject child) foreach (var x in FlattenRow(child, key)) yield return x;
            else yield return new(key, v);
        }
    }

    static string Cell(JsonNode? n) =>
        Num(n) is { } d ? F(d) : n is JsonValue ? H(n.ToString()) : n == null ? "" : H(n.ToJsonString());

    // ---------------------------------------------------------------- layers
    static string Layers(ReportInputs i)
    {
        if (i.LayersDir == null) return Missing(
            "no layer-analysis folder given; run `brainmclip analyze-layers`.");
        if (!Directory.Exists(i.LayersDir)) throw new UserInputException($"{i.LayersDir}: folder not found");
        var sb = new StringBuilder();
        foreach (var (name, title) in new[]
            { ("rsa", "RSA between CLIP layers and ROI groups"), ("cka", "Linear CKA between CLIP layers") })
        {
            string png = Path.Combine(i.LayersDir, name + ".png"), csv = Path.Combine(i.LayersDir, name + ".csv");
            if (File.Exists(png)) sb.Append($"<h3>{H(title)}</h3>").Append(Img(File.ReadAllBytes(png), title, "plot"));
            else if (File.Exists(csv))
            {
                var (rows, cols, v) = LayerAnalysisWriter.ReadCsv(csv);
                sb.Append($"<h3>{H(title)}</h3>").Append(Img(Plots.Heatmap(v, rows, cols, title), title, "plot"));
            }
            if (name == "rsa" && File.Exists(csv))
            {
                var (rows, cols, v) = LayerAnalysisWriter.ReadCsv(csv);
                sb.Append("<p>Best layer per ROI group: ");
                sb.Append(string.Join("; ", cols.Select((c, j) =>
                {
                    int best = Enumerable.Range(0, rows.Length).MaxBy(r => v[r, j]);
                    return $"{H(c)} → {H(rows[best])} (ρ = {v[best, j]:F3})";
                })));
                sb.Append(". The paper chose layers 11–20 for CLIP-Detail from this analysis.</p>");
            }
        }
        return sb.Length > 0 ? sb.ToString() : Missing($"{i.LayersDir} has no rsa/cka CSV or PNG files.");
    }

    // ---------------------------------------------------------------- JSON helpers
    static JsonNode ReadJson(string path)
    {
        UserInputException.RequireFile(path, "JSON file");
        try { return JsonNode.Parse(File.ReadAllText(path)) ?? throw new UserInputException($"{path}: empty JSON"); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
    }

    static double? Num(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.TryGetValue(out double d)) return d;
        if (v.TryGetValue(out long l)) return l;
        if (v.TryGetValue(out int k)) return k;
        return null;
    }

    /// <summary>Numeric leaves of a JSON tree as dotted paths.</summary>
    static IEnumerable<(string key, double value)> Flatten(JsonNode? node, string prefix = "")
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o) foreach (var x in Flatten(v,
                    prefix == "" ? k : $"{prefix}.{k}")) yield return x;
                break;
            case JsonArray:
                break; // per-loop arrays would swamp the table
            default:
                if (Num(node) is { } d) yield return (prefix, d);
                break;
        }
    }

    static IEnumerable<(string key, string value)> FlattenAll(JsonNode? node, string prefix = "")
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o) foreach (var x in FlattenAll(v,
                    prefix == "" ? k : $"{prefix}.{k}")) yield return x;
                break;
            case JsonArray a when a.Count > 20:
                yield return (prefix, $"[{a.Count} values]");
                break;
            default:
                yield return (prefix, Num(node) is { } d ? F(d) : node?.ToString() ?? "null");
                break;
        }
    }

    const string Css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 40px;color:#1d232b;background:#fbfbfc}
        header{border-bottom:2px solid #2f5d8a;margin-bottom:10px} h1{margin:18px 0 4px;color:#2f5d8a} .sub{color:#5a6470;margin:0 0 8px}
        nav a{margin-right:14px;color:#2f5d8a;text-decoration:none;font-weight:600} nav{padding-bottom:10px}
        section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:6px 18px 14px;margin:16px 0}
        h2{color:#2f5d8a;border-bottom:1px solid #eef0f2;padding-bottom:4px} table{border-collapse:collapse;margin:8px 0}
        th,td{border:1px solid #d6dae0;padding:4px 10px;text-align:right} th{background:#f0f3f7} td:first-child,th:first-child{text-align:left}
        td.ours{font-weight:700;background:#f5f9ff} .missing{color:#8a5a00;background:#fff8e6;border-left:4px solid #e0a800;padding:6px 10px}
        .skip{color:#8a5a00} .grid{display:flex;flex-wrap:wrap;gap:10px} figure{margin:0;text-align:center}
        figure img{display:block;margin-bottom:3px;border:1px solid #ccd} figcaption{font-size:12px;color:#5a6470}
        img.plot{max-width:100%;display:block;margin:8px 0} td.parts{font-size:12px;color:#5a6470;text-align:left} .nogt{width:160px;height:40px;color:#999}
        """;
}
