using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests.Architecture;

/// <summary>
/// What no formatter checks (CONTRIBUTING.md): lines of src/ are at most 120 characters, methods at most 80 lines.
/// The content of raw string literals (CSS, JSON presets) is data and exempt from the line limit.
/// </summary>
public sealed partial class SourceLimitsTests
{
    public const int MaxLine = 120, MaxMethod = 80;

    static IEnumerable<string> SourceFiles(string root) => Directory
        .EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
        .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"));

    [Fact]
    public void NoLineInSrcIsLongerThan120Characters()
    {
        var src = Path.Combine(TestPaths.RepoRoot, "src");
        var files = SourceFiles(src).ToList();
        Assert.True(files.Count > 50, $"only {files.Count} source files under {src}");
        var bad = files.SelectMany(f => LongLines(File.ReadAllText(f))
            .Select(n => $"{Path.GetRelativePath(src, f)}:{n}")).ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} lines over {MaxLine} characters: {string.Join(", ", bad.Take(20))}");
    }

    [Fact]
    public void NoMethodInSrcIsLongerThan80Lines()
    {
        var src = Path.Combine(TestPaths.RepoRoot, "src");
        var bad = SourceFiles(src).SelectMany(f => LongMethods(File.ReadAllText(f))
            .Select(m => $"{Path.GetRelativePath(src, f)}:{m.Line} {m.Name} ({m.Lines} lines)")).ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} methods over {MaxMethod} lines: {string.Join("; ", bad)}");
    }

    [Fact]
    public void TheCheckersFindWhatTheyLookFor()
    {
        string longLine = "        var x = \"" + new string('a', 130) + "\";";
        string raw = "    const string Css = \"\"\"\n" + new string('b', 130) + "\n\"\"\";";
        Assert.Equal([3], LongLines("class A\n{\n" + longLine + "\n}\n"));
        Assert.Empty(LongLines("class A\n{\n" + raw + "\n}\n"));
        string body = string.Concat(Enumerable.Range(0, 85).Select(i => $"        int v{i} = {i};\n"));
        string code = "class A\n{\n    public static int Long(int a)\n    {\n" + body + "        return a;\n    }\n\n" +
                      "    int Short() => 1;\n}\n";
        var found = LongMethods(code).ToList();
        Assert.Single(found);
        Assert.Equal("Long", found[0].Name);
        Assert.Equal(89, found[0].Lines);
    }

    /// <summary>1-based numbers of the lines over the limit, outside raw string literals.</summary>
    public static List<int> LongLines(string text)
    {
        var lines = text.Split('\n');
        var result = new List<int>();
        bool inRaw = false;
        for (int i = 0; i < lines.Length; i++)
        {
            int quotes = RawQuoteRegex().Matches(lines[i]).Count;
            bool startsInRaw = inRaw;
            if (quotes % 2 == 1) inRaw = !inRaw;
            if (!startsInRaw && !inRaw && lines[i].TrimEnd('\r').Length > MaxLine) result.Add(i + 1);
            else if (startsInRaw && !inRaw && lines[i].TrimEnd('\r').Length > MaxLine
                     && !lines[i].TrimStart().StartsWith("\"\"\"", StringComparison.Ordinal)) result.Add(i + 1);
        }
        return result;
    }

    /// <summary>
    /// Methods, constructors and operators whose block (signature to closing brace) spans more than the limit: a
    /// member signature at class-member indentation followed by a "{" line at the same indentation.
    /// </summary>
    public static IEnumerable<(int Line, string Name, int Lines)> LongMethods(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var m = SignatureRegex().Match(lines[i]);
            if (!m.Success || ControlRegex().IsMatch(lines[i]) || lines[i].Contains("=>")) continue;
            int indent = m.Groups[1].Length;
            int open = i;
            while (open < lines.Length && open < i + 12 && !IsBrace(lines[open], '{', indent)
                   && !lines[open].TrimEnd().EndsWith(';')) open++;
            if (open >= lines.Length || !IsBrace(lines[open], '{', indent)) continue;
            int close = open + 1;
            while (close < lines.Length && !IsBrace(lines[close], '}', indent)) close++;
            int length = close - i + 1;
            if (length > MaxMethod) yield return (i + 1, m.Groups[2].Value, length);
            i = close;
        }
    }

    static bool IsBrace(string line, char brace, int indent) =>
        line.TrimEnd().Length == indent + 1 && line.TrimEnd()[indent] == brace && line[..indent].Trim().Length == 0;

    [GeneratedRegex("\"\"\"")]
    private static partial Regex RawQuoteRegex();

    [GeneratedRegex(@"^( {4}| {8}| {12})(?:[\w<>\[\]?,.]+(?: [\w<>\[\]?,.]+)*\s)?(\w+)\s*(?:<[^>]*>)?\(")]
    private static partial Regex SignatureRegex();

    [GeneratedRegex(@"^\s*(if|for|foreach|while|switch|using|return|else|catch|lock|var|new|throw|await|case|yield)\b")]
    private static partial Regex ControlRegex();
}
