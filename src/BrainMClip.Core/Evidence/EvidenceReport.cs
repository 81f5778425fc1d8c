using BrainMClip.IO;

namespace BrainMClip.Evidence;

/// <summary>A generated text that no longer matches its source: where, what the file says, what the JSON gives.
/// </summary>
public sealed record EvidenceDrift(string File, int Line, string Block, string Found, string Expected,
    string Source)
{
    public override string ToString() =>
        $"{File}:{Line}: block '{Block}' says '{Found}' where {Source} gives '{Expected}'";
}

/// <summary>`evidence report` writes every block's rendering into the docs; `evidence check` compares.</summary>
public static class EvidenceReport
{
    public sealed record Summary(int Files, int Blocks, int Changed);

    public static Summary Write(string root)
    {
        int files = 0, blocks = 0, changed = 0;
        foreach (var file in EvidenceBlocks.DocFiles(root))
        {
            string text = File.ReadAllText(file);
            var found = EvidenceBlocks.Find(Rel(root, file), text);
            if (found.Count == 0) continue;
            files++;
            string updated = text;
            // From the end, so earlier offsets stay valid.
            foreach (var b in found.OrderByDescending(b => b.ContentStart))
            {
                blocks++;
                string current = text.Substring(b.ContentStart, b.ContentLength);
                var (expected, _) = EvidenceBlocks.Expected(root, b, current);
                if (expected == current) continue;
                changed++;
                updated = updated[..b.ContentStart] + expected + updated[(b.ContentStart + b.ContentLength)..];
            }
            if (updated != text) AtomicFile.WriteAllText(file, updated);
        }
        return new Summary(files, blocks, changed);
    }

    /// <summary>The first block (file order, then position) whose text differs from its rendering, or null.</summary>
    public static (EvidenceDrift? Drift, int Blocks) Check(string root)
    {
        int blocks = 0;
        foreach (var file in EvidenceBlocks.DocFiles(root))
        {
            string text = File.ReadAllText(file);
            string rel = Rel(root, file);
            foreach (var b in EvidenceBlocks.Find(rel, text))
            {
                blocks++;
                string current = text.Substring(b.ContentStart, b.ContentLength);
                var (expected, spans) = EvidenceBlocks.Expected(root, b, current);
                if (expected == current) continue;
                return (Describe(rel, text, b, current, expected, spans), blocks);
            }
        }
        return (null, blocks);
    }

    static EvidenceDrift Describe(string rel, string text, EvidenceBlocks.Block b, string current, string expected,
        List<RenderedSpan> spans)
    {
        int i = 0;
        while (i < current.Length && i < expected.Length && current[i] == expected[i]) i++;
        int line = text[..(b.ContentStart + i)].Count(c => c == '\n') + 1;
        var span = spans.FirstOrDefault(s => i >= s.Start && i <= s.Start + s.Length);
        string source = span is null ? $"template {EvidenceBlocks.TemplateFolder}/{b.Name}.md (text outside any " +
            "placeholder)" : span.Placeholder;
        return new EvidenceDrift(rel, line, b.Name, Token(current, i), Token(expected, i), source);
    }

    /// <summary>The whitespace-delimited word around position <paramref name="i"/> (trimmed of , ; ) ]).</summary>
    static string Token(string s, int i)
    {
        if (s.Length == 0) return "";
        i = Math.Min(i, s.Length - 1);
        int a = i, z = i;
        while (a > 0 && !char.IsWhiteSpace(s[a - 1])) a--;
        while (z < s.Length && !char.IsWhiteSpace(s[z])) z++;
        return s[a..z].TrimEnd(',', ';', ')', ']', '.').TrimStart('(', '[');
    }

    static string Rel(string root, string file) => Path.GetRelativePath(root, file).Replace('\\', '/');
}
