using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BrainMClip.IO;

namespace BrainMClip.Evidence;

/// <summary>A generated span of a rendered block: where a number came from.</summary>
public sealed record RenderedSpan(int Start, int Length, string Placeholder);

/// <summary>
/// Generated text in the docs (`brainmclip evidence report` / `evidence check`). A block in README.md or docs/*.md is
/// <c>&lt;!-- evidence:NAME --&gt;</c> … <c>&lt;!-- /evidence:NAME --&gt;</c>; its text is the rendering of the
/// template docs/evidence/blocks/NAME.md. A template is Markdown with placeholders
/// <c>{{SOURCE:PATH|FORMAT}}</c>: SOURCE a JSON file relative to the repository root, or an alias defined by a
/// template line <c>{{let ALIAS = FILE}}</c> (not rendered); PATH slash-separated keys into it, where
/// <c>key[k=v,k2=v2]</c> picks the array element whose fields equal those values and <c>key[3]</c> an index.
/// FORMAT: <c>f3</c> (fixed, 3 decimals, "−" for negatives), <c>+f3</c> (always signed), <c>ci3</c> (an
/// {ci95_low, ci95_high} object or a [low, high] array as "[+a, +b]"), <c>n0</c> (integer with thousands
/// separators), <c>pct1</c> (× 100, 1 decimal), <c>x100+f1</c> (× 100, signed), <c>x100ci1</c> (an interval
/// × 100), <c>d3</c> (a {mean, ci95_low, ci95_high} object as "+m [+a, +b]"), <c>FORMAT?</c> ("–" where the
/// value is null), <c>analysis-table</c> (an array of analysis.json comparisons as a Markdown table);
/// <c>FORMAT/@PATH2</c> divides by the value at PATH2 of the same file first (e.g.
/// <c>n0/@learning_curve[size=1000]/seeds</c>).
/// </summary>
public static partial class EvidenceBlocks
{
    public const string TemplateFolder = "docs/evidence/blocks";

    public sealed record Block(string File, string Name, int ContentStart, int ContentLength, int Line);

    /// <summary>The files that may hold blocks: README.md and docs/*.md.</summary>
    public static IEnumerable<string> DocFiles(string root)
    {
        string readme = Path.Combine(root, "README.md");
        if (File.Exists(readme)) yield return readme;
        string docs = Path.Combine(root, "docs");
        if (Directory.Exists(docs))
            foreach (var f in Directory.EnumerateFiles(docs, "*.md").Order(StringComparer.Ordinal)) yield return f;
    }

    public static List<Block> Find(string file, string text)
    {
        var blocks = new List<Block>();
        foreach (Match m in OpenRegex().Matches(text))
        {
            string name = m.Groups[1].Value;
            string close = $"<!-- /evidence:{name} -->";
            int end = text.IndexOf(close, m.Index + m.Length, StringComparison.Ordinal);
            int line = text[..m.Index].Count(c => c == '\n') + 1;
            if (end < 0) throw new UserInputException($"{file}:{line}: block '{name}' has no closing {close}");
            blocks.Add(new Block(file, name, m.Index + m.Length, end - m.Index - m.Length, line));
        }
        int closes = CloseRegex().Matches(text).Count;
        if (closes != blocks.Count)
            throw new UserInputException($"{file}: {blocks.Count} evidence blocks opened but {closes} closed");
        return blocks;
    }

    /// <summary>The block's text as it should stand between the markers (a leading newline when the block stands
    /// on lines of its own).</summary>
    public static (string Text, List<RenderedSpan> Spans) Expected(string root, Block b, string current)
    {
        var (text, spans) = Render(root, b.Name);
        if (!current.StartsWith('\n')) return (text, spans);
        return ("\n" + text + "\n", spans.Select(s => s with { Start = s.Start + 1 }).ToList());
    }

    /// <summary>Renders template NAME; every placeholder's output span is recorded.</summary>
    public static (string Text, List<RenderedSpan> Spans) Render(string root, string name)
    {
        string path = Path.Combine(root, TemplateFolder, name + ".md");
        if (!File.Exists(path))
            throw new UserInputException($"block '{name}': template {TemplateFolder}/{name}.md not found");
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = new List<string>();
        foreach (var line in File.ReadAllText(path).Replace("\r\n", "\n").TrimEnd('\n').Split('\n'))
        {
            var let = LetRegex().Match(line);
            if (let.Success) aliases[let.Groups[1].Value] = let.Groups[2].Value.Trim();
            else lines.Add(line);
        }
        string template = string.Join("\n", lines);
        var sb = new StringBuilder();
        var spans = new List<RenderedSpan>();
        var cache = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        int pos = 0;
        foreach (Match m in PlaceholderRegex().Matches(template))
        {
            sb.Append(template, pos, m.Index - pos);
            string value = Evaluate(root, m.Groups[1].Value, aliases, cache, $"{TemplateFolder}/{name}.md");
            spans.Add(new RenderedSpan(sb.Length, value.Length, m.Value));
            sb.Append(value);
            pos = m.Index + m.Length;
        }
        sb.Append(template, pos, template.Length - pos);
        return (sb.ToString(), spans);
    }

    static string Evaluate(string root, string body, Dictionary<string, string> aliases,
        Dictionary<string, JsonNode> cache, string template)
    {
        int bar = body.LastIndexOf('|');
        int colon = body.IndexOf(':');
        if (bar < 0 || colon < 0 || colon > bar)
            throw new UserInputException($"{template}: placeholder {{{{{body}}}}} is not SOURCE:PATH|FORMAT");
        string source = body[..colon].Trim(), jsonPath = body[(colon + 1)..bar].Trim(), format = body[(bar + 1)..]
            .Trim();
        string file = aliases.TryGetValue(source, out var f) ? f : source;
        if (!cache.TryGetValue(file, out var json))
            cache[file] = json = EvidenceCollector.ReadObject(Path.Combine(root, file));
        string what = $"{template}: {{{{{body}}}}}";
        // FORMAT? writes "–" where the value is null (a stream the model has not).
        if (format.EndsWith('?'))
        {
            format = format[..^1];
            if (SelectOrNull(json, jsonPath, $"{what}: {file}") is null) return "–";
        }
        var node = Select(json, jsonPath, $"{what}: {file}");
        int per = format.IndexOf("/@", StringComparison.Ordinal);
        if (per < 0) return Format(node, format, what);
        // FORMAT/@PATH2: the value divided by another value of the same file (e.g. a sum over seeds per seed).
        double divisor = Number(Select(json, format[(per + 2)..], $"{what}: {file}"), what);
        return Format(JsonValue.Create(Number(node, what) / divisor), format[..per], what);
    }

    /// <summary>Follows PATH (see the class summary) from <paramref name="node"/>.</summary>
    public static JsonNode Select(JsonNode node, string path, string what) =>
        SelectOrNull(node, path, what) ?? throw new UserInputException($"{what}: '{path}' is null");

    static JsonNode? SelectOrNull(JsonNode node, string path, string what)
    {
        JsonNode? cur = node;
        foreach (var seg in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (cur is null) return null;          // a null on the way (an ablated stream's object)
            var m = SegmentRegex().Match(seg);
            if (!m.Success) throw new UserInputException($"{what}: path segment '{seg}' is not KEY or KEY[SELECTOR]");
            if (m.Groups[1].Value.Length > 0)
                cur = cur is JsonObject o && o.TryGetPropertyValue(m.Groups[1].Value, out var v) ? v
                    : throw new UserInputException($"{what}: no key '{m.Groups[1].Value}' at '{seg}'");
            if (m.Groups[2].Success) cur = Pick(cur, m.Groups[2].Value, what);
        }
        return cur;
    }

    static JsonNode? Pick(JsonNode? cur, string selector, string what)
    {
        if (cur is not JsonArray a) throw new UserInputException($"{what}: [{selector}] applied to a non-array");
        if (int.TryParse(selector, NumberStyles.Integer, CultureInfo.InvariantCulture, out int idx))
            return idx >= 0 && idx < a.Count ? a[idx] : throw new UserInputException($"{what}: no element {idx}");
        var conds = selector.Split(',').Select(c => c.Split('=', 2)).ToList();
        if (conds.Any(c => c.Length != 2)) throw new UserInputException($"{what}: selector [{selector}] is not k=v");
        var hits = a.Where(e => e is JsonObject o && conds.All(c => o[c[0].Trim()] is JsonValue v &&
            ValueText(v) == c[1].Trim())).ToList();
        return hits.Count == 1 ? hits[0]
            : throw new UserInputException($"{what}: [{selector}] matches {hits.Count} elements (expected one)");
    }

    static string ValueText(JsonValue v) => v.TryGetValue(out string? s) ? s
        : v.TryGetValue(out double d) ? d.ToString("R", CultureInfo.InvariantCulture) : v.ToJsonString();

    static double Number(JsonNode n, string what) => n is JsonValue v && (v.TryGetValue(out double d) ? d
        : v.TryGetValue(out long l) ? l : v.TryGetValue(out int i) ? i : (double?)null) is { } x ? x
        : throw new UserInputException($"{what}: expected a number, found {n.ToJsonString()}");

    public static string Format(JsonNode node, string format, string what)
    {
        if (format == "analysis-table") return AnalysisTable(node, what);
        if (format == "s") return node is JsonValue sv && sv.TryGetValue(out string? text) ? text
            : throw new UserInputException($"{what}: format 's' needs a string, found {node.ToJsonString()}");
        if (format == "min-s") // seconds as "7 min 52 s" (rounded to the second)
        {
            long total = (long)Math.Round(Number(node, what));
            return total >= 60 ? $"{total / 60} min {total % 60} s" : $"{total} s";
        }
        if (format.StartsWith('d') && node is JsonObject diff && diff["mean"] is { } mean)
            return Fixed(Number(mean, what), Digits(format[1..], what), true) + " " +
                Format(node, "ci" + format[1..], what);
        bool ci100 = format.StartsWith("x100ci", StringComparison.Ordinal);
        if (ci100 || format.StartsWith("ci", StringComparison.Ordinal))
        {
            var (lo, hi) = node is JsonArray a && a.Count == 2 ? (Number(a[0]!, what), Number(a[1]!, what))
                : node is JsonObject o && o["ci95_low"] is { } l && o["ci95_high"] is { } h
                    ? (Number(l, what), Number(h, what))
                    : throw new UserInputException($"{what}: ci needs [low, high] or ci95_low/ci95_high");
            int dd = Digits(format[(ci100 ? 6 : 2)..], what);
            double k = ci100 ? 100 : 1;
            return $"[{Fixed(k * lo, dd, true)}, {Fixed(k * hi, dd, true)}]";
        }
        double x = Number(node, what);
        var m = FormatRegex().Match(format);
        if (!m.Success) throw new UserInputException($"{what}: unknown format '{format}'");
        double scale = m.Groups[1].Success ? 100 : 1;
        bool signed = m.Groups[2].Value == "+";
        int digits = Digits(m.Groups[4].Value, what);
        return m.Groups[3].Value switch
        {
            "f" => Fixed(x * scale, digits, signed),
            "pct" => Fixed(x * 100, digits, signed),
            "n" => (signed && x >= 0 ? "+" : "") +
                (x * scale).ToString("N" + digits, CultureInfo.InvariantCulture).Replace('-', '−'),
            _ => throw new UserInputException($"{what}: unknown format '{format}'"),
        };
    }

    static int Digits(string s, string what) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) && d is >= 0 and <= 6 ? d
            : throw new UserInputException($"{what}: format digits '{s}' (expected 0-6)");

    /// <summary>Fixed-point text with "−" (U+2212) for negatives, as the docs write them.</summary>
    public static string Fixed(double x, int digits, bool signed)
    {
        string s = Math.Abs(x).ToString("F" + digits, CultureInfo.InvariantCulture);
        bool negative = x < 0 && s.Any(c => c is >= '1' and <= '9') || x < 0 && signed;
        return (negative ? "−" : signed ? "+" : "") + s;
    }

    static string AnalysisTable(JsonNode node, string what)
    {
        if (node is not JsonArray rows) throw new UserInputException($"{what}: analysis-table needs an array");
        var sb = new StringBuilder();
        sb.Append("| comparison | n_train | metric | subjects | model | baseline | difference | hierarchical 95 % CI " +
            "| image-only 95 % CI | verdict |\n|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string F(string k, int d) => Fixed(Number(r![k]!, what), d, false);
            string S(string k) => Fixed(Number(r![k]!, what), 3, true);
            string Ci(string k) => Format(r![k]!, "ci3", what);
            sb.Append(CultureInfo.InvariantCulture,
                $"\n| {r!["model"]} − {r["baseline"]} | {Format(r["n_train"]!, "n0", what)} | {r["metric"]} | " +
                $"{r["subjects"]} | {F("model_mean", 3)} | {F("baseline_mean", 3)} | {S("difference")} | " +
                $"{Ci("ci95_hierarchical")} | {Ci("ci95_images")} | {r["verdict"]} |");
        }
        return sb.ToString();
    }

    [GeneratedRegex(@"<!-- evidence:([A-Za-z0-9_.-]+) -->")]
    private static partial Regex OpenRegex();
    [GeneratedRegex(@"<!-- /evidence:([A-Za-z0-9_.-]+) -->")]
    private static partial Regex CloseRegex();
    [GeneratedRegex(@"^\{\{let ([A-Za-z0-9_]+) = (.+)\}\}$")]
    private static partial Regex LetRegex();
    [GeneratedRegex(@"\{\{(.+?)\}\}")]
    private static partial Regex PlaceholderRegex();
    [GeneratedRegex(@"^([^\[\]]*)(?:\[([^\]]+)\])?$")]
    private static partial Regex SegmentRegex();
    [GeneratedRegex(@"^(x100)?(\+?)(f|pct|n)(\d)$")]
    private static partial Regex FormatRegex();
}
