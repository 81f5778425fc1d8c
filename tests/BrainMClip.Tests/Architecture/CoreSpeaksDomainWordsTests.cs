using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests.Architecture;

/// <summary>
/// Core is a library: its messages speak in domain words ("sampling steps must be at least 1 (got 0)"), never in
/// the CLI's flags. A bad setting names its record property (<see cref="UserInputException.Field"/>) and the CLI
/// adds the flag (<c>CliCommand.FlagOf</c>). Checked by lexing every string literal of src/BrainMClip.Core
/// (regular, verbatim, interpolated with the strings inside its holes, raw) for <c>--</c> followed by a letter;
/// comments and code (<c>i--</c>) are not literals.
/// </summary>
public sealed class CoreSpeaksDomainWordsTests
{
    /// <summary>Literals that must keep a flag, with why (file name → text the literal contains).</summary>
    static readonly (string File, string Text, string Why)[] Allowed =
    [
        ("SyntheticNsd.Hierarchical.cs", "brainmclip synth --world hierarchical",
            "provenance written into ground_truth.json; changing it changes synth's output bytes, which must stay " +
            "identical"),
    ];

    static readonly Regex Flag = new(@"--[a-z]", RegexOptions.Compiled);

    [Fact]
    public void NoCoreStringLiteralSpeaksInCliFlags()
    {
        var core = Path.Combine(TestPaths.RepoRoot, "src", "BrainMClip.Core");
        var files = Directory.EnumerateFiles(core, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj")).ToList();
        var found = new List<string>();
        int literals = 0;
        var used = new HashSet<string>();
        foreach (var f in files)
            foreach (var (line, text) in Literals(File.ReadAllText(f)))
            {
                literals++;
                if (!Flag.IsMatch(text)) continue;
                var allow = Allowed.FirstOrDefault(a => a.File == Path.GetFileName(f) && text.Contains(a.Text));
                if (allow.File is not null) { used.Add(allow.Text); continue; }
                found.Add($"{Path.GetRelativePath(core, f)}:{line}: \"{text}\"");
            }
        Assert.True(literals > 3000, $"only {literals} string literals read: the lexer is broken");
        Assert.True(found.Count == 0,
            "Core string literals that speak in CLI flags (say it in domain words; throw " +
            "UserInputException.Invalid(nameof(o.Field), …) so the CLI can name the flag):\n" +
            string.Join("\n", found));
        Assert.Equal(Allowed.Select(a => a.Text).Order(), used.Order()); // no stale allow-list entry
    }

    [Fact]
    public void APlantedFlagInACoreMessageIsFound()
    {
        const string source = """
            // --comment is no literal; neither is /// <c>--doc</c> nor /* --block */
            static void F(Options o, int i, int j)
            {
                i--; --j; char q = '"'; char e = '\''; int k = --i;
                if (o.Steps < 1) throw new UserInputException($"--steps {o.Steps}: expected at least 1");
                var ok = $"sampling steps {string.Join("-", o.Tags)} {{not a hole}} must be at least 1";
                var hole = $"value {Pick(o, "--inner")} bad";
                var verbatim = @"C:\dir ""--verbatim"" here";
                var raw = \"\"\"
                    raw --rawflag text
                    \"\"\";
                var dashes = "-- not a flag, --1 neither";
            }
            """;
        var flagged = Literals(source.Replace("\\\"", "\"")).Where(l => Flag.IsMatch(l.Text))
            .Select(l => Regex.Match(l.Text, @"--[a-z][\w-]*").Value).ToArray();
        Assert.Equal(["--steps", "--inner", "--verbatim", "--rawflag"], flagged);
    }

    /// <summary>Every string literal's text with the line it starts on; an interpolated string's holes are
    /// lexed as code, so the strings inside them are literals of their own.</summary>
    static List<(int Line, string Text)> Literals(string src)
    {
        var list = new List<(int, string)>();
        int i = 0;
        LexCode(src, ref i, list, stopAtBrace: false);
        return list;
    }

    static int LineOf(string s, int index) => s.AsSpan(0, index).Count('\n') + 1;

    /// <summary>Code until the end (or the '}' closing an interpolation hole).</summary>
    static void LexCode(string s, ref int i, List<(int, string)> list, bool stopAtBrace)
    {
        int depth = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '/')
            {
                while (i < s.Length && s[i] != '\n') i++;
                continue;
            }
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? s.Length : end + 2;
                continue;
            }
            if (c == '\'')
            {
                i++;
                while (i < s.Length && s[i] != '\'') i += s[i] == '\\' ? 2 : 1;
                i++;
                continue;
            }
            if (c is '"' or '$' or '@' && StringStart(s, i) is { } start)
            {
                LexString(s, ref i, start, list);
                continue;
            }
            if (stopAtBrace)
            {
                if (c == '{') depth++;
                else if (c == '}' && depth-- == 0) return;
            }
            i++;
        }
    }

    /// <summary>At a string's first character: (interpolated, verbatim, raw quote count, prefix length);
    /// null when <paramref name="i"/> does not start a string.</summary>
    static (bool Interpolated, bool Verbatim, int Quotes, int Prefix)? StringStart(string s, int i)
    {
        int p = i, dollars = 0;
        bool verbatim = false;
        while (p < s.Length && (s[p] == '$' || s[p] == '@'))
        {
            if (s[p] == '$') dollars++; else verbatim = true;
            p++;
        }
        if (p >= s.Length || s[p] != '"') return null;
        int quotes = 0;
        while (p + quotes < s.Length && s[p + quotes] == '"') quotes++;
        if (quotes >= 3) return (dollars > 0, false, quotes, p - i);
        return (dollars > 0, verbatim, 1, p - i);
    }

    static void LexString(string s, ref int i,
        (bool Interpolated, bool Verbatim, int Quotes, int Prefix) k, List<(int, string)> list)
    {
        int line = LineOf(s, i);
        i += k.Prefix;
        var text = new StringBuilder();
        if (k.Quotes >= 3)
        {
            // Raw: everything up to the closing run of quotes (holes kept as text: flags in code are rare there).
            string close = new('"', k.Quotes);
            int end = s.IndexOf(close, i + k.Quotes, StringComparison.Ordinal);
            end = end < 0 ? s.Length : end;
            list.Add((line, s[(i + k.Quotes)..end]));
            i = Math.Min(s.Length, end + k.Quotes);
            return;
        }
        i++; // opening quote
        while (i < s.Length)
        {
            char c = s[i];
            if (k.Verbatim && c == '"' && i + 1 < s.Length && s[i + 1] == '"') { text.Append('"'); i += 2; continue; }
            if (c == '"') { i++; break; }
            if (!k.Verbatim && c == '\\')
            {
                text.Append(s, i, Math.Min(2, s.Length - i));
                i += 2;
                continue;
            }
            if (k.Interpolated && c == '{')
            {
                if (i + 1 < s.Length && s[i + 1] == '{') { text.Append('{'); i += 2; continue; }
                i++;
                LexCode(s, ref i, list, stopAtBrace: true);
                i++; // closing brace of the hole
                text.Append("{…}");
                continue;
            }
            text.Append(c);
            i++;
        }
        list.Add((line, text.ToString()));
    }
}
