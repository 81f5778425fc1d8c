using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests.Architecture;

/// <summary>
/// A default is written once, in the options record that owns it: a CLI option whose value fills a record property
/// with a default (explicit <c>= 20</c>, or the implicit 0/false/null of a non-required property) takes its default
/// from the record (<c>DefaultValueFactory = _ => D.Steps</c>), never as a literal of its own, or the two drift
/// apart. Read from the sources without a compiler: options and their <c>DefaultValueFactory</c> in src/BrainMClip.Cli,
/// the property each option's value is bound to (<c>Steps = r.GetValue(steps)</c>, through one local, or the n-th
/// argument of a positional record), and the properties every record in src/ declares a default for.
/// </summary>
public sealed partial class SingleSourceDefaultsTests
{
    [Fact]
    public void NoCliOptionRepeatsADefaultItsRecordOwns()
    {
        var src = Path.Combine(TestPaths.RepoRoot, "src");
        var report = DefaultsAnalyser.Analyse(src, Path.Combine(src, "BrainMClip.Cli"));
        // The reader must see the code base, or "no duplicate" means nothing.
        Assert.True(report.Options >= 100, $"only {report.Options} CLI options found: the reader is broken");
        Assert.True(report.BoundToRecords >= 60,
            $"only {report.BoundToRecords} options bound to a defaulted record property: the reader is broken");
        Assert.True(report.Duplicates.Count == 0,
            "CLI options that repeat a record's default as a literal (use the record's value, e.g. " +
            "DefaultValueFactory = _ => D.Steps with D = Defaults.Of<TheOptions>()):\n" +
            string.Join("\n", report.Duplicates));
    }

    [Fact]
    public void APlantedDuplicateDefaultIsFound()
    {
        using var dir = new TempDir();
        void Write(string rel, string text)
        {
            var path = Path.Combine(dir.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write("Core/Render.cs", """
            namespace BrainMClip;
            public sealed record RenderOptions
            {
                public required string OutDir { get; init; }
                public int Steps { get; init; } = 20;
                public long Seed { get; init; }
            }
            public sealed record LoopSettings(int Loops = 30, int Batch = 300);
            """);
        Write("Cli/SharedOptions.cs", """
            public static class SharedOptions
            {
                public static Option<long> Seed() => new("--seed")
                {
                    Description = "Random seed.",
                    DefaultValueFactory = _ => 0,
                };
            }
            """);
        Write("Cli/Commands/RenderCommand.cs", """
            public sealed class RenderCommand
            {
                static readonly RenderOptions D = Defaults.Of<RenderOptions>();
                readonly Option<int> steps = new Option<int>("--steps")
                { Description = "Steps.", DefaultValueFactory = _ => 20 };
                readonly Option<int> width = new Option<int>("--width") { DefaultValueFactory = _ => 64 };
                readonly Option<long> seed = SharedOptions.Seed();
                readonly Option<int> quality = new Option<int>("--quality") { DefaultValueFactory = _ => 9 };
                public RenderOptions Bind(ParseResult r)
                {
                    int w = r.GetValue(width);
                    return new RenderOptions { OutDir = "", Steps = r.GetValue(steps), Seed = r.GetValue(seed) };
                }
                public void Run(ParseResult p) => Console.WriteLine(p.GetValue(quality));
            }
            """);
        Write("Cli/Commands/LoopCommand.cs", """
            public sealed class LoopCommand
            {
                public void Configure(Command command)
                {
                    var loops = new Option<int>("--loops") { Description = "Loops.", DefaultValueFactory = _ => 30 };
                    var batch = new Option<int>("--batch") { DefaultValueFactory = _ => LoopDefaults.Batch };
                    command.SetAction(parse =>
                        Run(new LoopSettings(parse.GetValue(loops), parse.GetValue(batch))));
                }
            }
            """);
        var report = DefaultsAnalyser.Analyse(Path.Combine(dir.Path), Path.Combine(dir.Path, "Cli"));
        var found = report.Duplicates.Select(d => d.Flag).Order(StringComparer.Ordinal).ToArray();
        // --steps: literal beside RenderOptions.Steps = 20; --seed: SharedOptions' literal 0 beside the implicit
        // default of RenderOptions.Seed; --loops: positional LoopSettings(Loops = 30). Not --width (its local
        // fills no record), --quality (no record) or --batch (reads a named default).
        Assert.Equal(["--loops", "--seed", "--steps"], found);

        Write("Cli/Commands/RenderCommand.cs",
            File.ReadAllText(Path.Combine(dir.Path, "Cli/Commands/RenderCommand.cs"))
                .Replace("DefaultValueFactory = _ => 20", "DefaultValueFactory = _ => D.Steps"));
        found = DefaultsAnalyser.Analyse(dir.Path, Path.Combine(dir.Path, "Cli")).Duplicates
            .Select(d => d.Flag).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["--loops", "--seed"], found);
    }

    /// <summary>A CLI option whose literal default repeats the default of the record property it fills.</summary>
    public sealed record Duplicate(string File, string Flag, string Literal, string Property, string Owner)
    {
        public override string ToString() =>
            $"{File}: {Flag} has the literal default {Literal} but fills {Property}, whose default {Owner} declares";
    }

    public sealed record Report(int Options, int BoundToRecords, List<Duplicate> Duplicates);

    static partial class DefaultsAnalyser
    {
        public static Report Analyse(string ownersRoot, string cliRoot)
        {
            var (props, positional) = RecordDefaults(ownersRoot);
            var cliFiles = Sources(cliRoot).ToList();
            // Options declared in SharedOptions: method name → (flag, default expression).
            var shared = new Dictionary<string, (string Flag, string? Default)>();
            foreach (var (path, text) in cliFiles.Where(f => Path.GetFileName(f.Path) == "SharedOptions.cs"))
                foreach (var o in Options(text)) shared[o.Variable] = (o.Flag, o.Default);

            int options = 0, bound = 0;
            var duplicates = new List<Duplicate>();
            foreach (var (path, text) in cliFiles)
            {
                string rel = Path.GetRelativePath(cliRoot, path);
                var declared = Options(text).ToList();
                foreach (Match m in SharedUse().Matches(text))
                    if (shared.TryGetValue(m.Groups["method"].Value, out var s))
                        declared.Add(new(m.Groups["var"].Value, s.Flag, s.Default));
                options += declared.Count;
                foreach (var o in declared)
                {
                    var owned = BoundProperties(path, text, o.Variable, props, positional).ToList();
                    if (owned.Count > 0) bound++;
                    if (o.Default is not { } literal || !Literal().IsMatch(literal)) continue;
                    foreach (var (p, owner) in owned) duplicates.Add(new(rel, o.Flag, literal, p, owner));
                }
            }
            return new Report(options, bound, duplicates);
        }

        static IEnumerable<(string Path, string Text)> Sources(string root) =>
            Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
                .Order(StringComparer.Ordinal)
                .Select(f => (f, File.ReadAllText(f)));

        /// <summary>A positional record: where it is declared, its parameter names in order and, for those with a
        /// default, where that default is (else null).</summary>
        sealed record PositionalRecord(string File, string[] Names, string?[] Defaults);

        /// <summary>Property name → where a default for it is declared (any record or class in the tree: the
        /// name is enough, a literal beside any defaulted property of that name is suspect); and positional
        /// records by type name (several commands declare their own <c>Request</c>).</summary>
        static (Dictionary<string, string> Props, Dictionary<string, List<PositionalRecord>> Positional)
            RecordDefaults(string root)
        {
            var props = new Dictionary<string, string>(StringComparer.Ordinal);
            var positional = new Dictionary<string, List<PositionalRecord>>(StringComparer.Ordinal);
            foreach (var (path, text) in Sources(root))
            {
                foreach (Match m in InitProperty().Matches(text))
                    if (!m.Groups["required"].Success)
                        props.TryAdd(m.Groups["name"].Value,
                            $"{Path.GetFileName(path)} ({m.Groups["name"].Value}" +
                            (m.Groups["init"].Success ? " = …)" : ": the type's default)"));
                foreach (Match m in PositionalDeclaration().Matches(text))
                {
                    string type = m.Groups["type"].Value;
                    var parameters = SplitTopLevel(m.Groups["params"].Value).Select(p => p.Trim())
                        .Where(p => p.Length > 0).ToArray();
                    var record = new PositionalRecord(path,
                        parameters.Select(p => ParameterName().Match(p).Groups["name"].Value).ToArray(),
                        parameters.Select(p => p.Contains('=') ? $"{Path.GetFileName(path)} ({type}({p}))" : null)
                            .ToArray());
                    if (!positional.TryGetValue(type, out var list)) positional[type] = list = [];
                    list.Add(record);
                    for (int i = 0; i < record.Names.Length; i++)
                        if (record.Defaults[i] is { } owner) props.TryAdd(record.Names[i], owner);
                }
            }
            return (props, positional);
        }

        /// <summary>Options declared in <paramref name="text"/>: the field, local or SharedOptions method that
        /// holds each, its flag and its default expression (null: none).</summary>
        static IEnumerable<(string Variable, string Flag, string? Default)> Options(string text)
        {
            foreach (Match m in OptionDeclaration().Matches(text))
            {
                // The option's initializer runs to the next option declaration (or the end).
                var next = OptionDeclaration().Match(text, m.Index + m.Length);
                string body = text[m.Index..(next.Success ? next.Index : text.Length)];
                var d = DefaultFactory().Match(body);
                yield return (m.Groups["var"].Value, m.Groups["flag"].Value,
                    d.Success ? d.Groups["expr"].Value.Trim() : null);
            }
        }

        /// <summary>Defaulted record properties the value of option <paramref name="v"/> is assigned to, with
        /// where their default is: <c>Prop = …GetValue(v)…</c> (in an initializer: no comma or brace between), the
        /// same through one local (<c>int b = p.GetValue(v); … Prop = b</c>), or the n-th argument of
        /// <c>new Record(…)</c> for a positional record (the one declared in this file, else the only one of that
        /// name).</summary>
        static IEnumerable<(string Property, string Owner)> BoundProperties(string path, string text, string v,
            Dictionary<string, string> props, Dictionary<string, List<PositionalRecord>> positional)
        {
            string get = $@"GetValue\(\s*{Regex.Escape(v)}\s*\)";
            const string assign = @"\b(?<prop>[A-Z]\w*)\s*=(?![=>])[^;\n,{}]*?";
            var named = Regex.Matches(text, $@"{assign}\b{get}").Select(m => m.Groups["prop"].Value);
            foreach (Match local in Regex.Matches(text, $@"\b(?<local>[a-z]\w*)\s*=\s*\w+\.{get}"))
                named = named.Concat(Regex.Matches(text, $@"{assign}\b{local.Groups["local"].Value}\b")
                    .Select(m => m.Groups["prop"].Value));
            foreach (var p in named.Distinct())
                if (props.TryGetValue(p, out var owner)) yield return (p, owner);
            foreach (Match m in NewPositional().Matches(text))
            {
                if (!positional.TryGetValue(m.Groups["type"].Value, out var candidates)) continue;
                var record = candidates.FirstOrDefault(c => c.File == path)
                    ?? (candidates.Count == 1 ? candidates[0] : null);
                int open = m.Index + m.Length - 1, close = MatchingParen(text, open);
                if (record is null || close < 0) continue;
                var args = SplitTopLevel(text[(open + 1)..close]);
                for (int i = 0; i < args.Count && i < record.Names.Length; i++)
                    if (record.Defaults[i] is { } owner && Regex.IsMatch(args[i], get))
                        yield return (record.Names[i], owner);
            }
        }

        static int MatchingParen(string text, int open)
        {
            int depth = 0;
            for (int i = open; i < text.Length; i++)
            {
                if (text[i] == '(') depth++;
                else if (text[i] == ')' && --depth == 0) return i;
            }
            return -1;
        }

        /// <summary>Splits at commas outside (), [], {} and &lt;&gt;.</summary>
        static List<string> SplitTopLevel(string s)
        {
            var parts = new List<string>();
            int depth = 0, start = 0;
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c is '(' or '[' or '{' or '<') depth++;
                else if (c is ')' or ']' or '}' or '>') depth--;
                else if (c == ',' && depth == 0) { parts.Add(s[start..i]); start = i + 1; }
            }
            parts.Add(s[start..]);
            return parts;
        }

        [GeneratedRegex(
            @"(?:(?<var>\w+)\s*=\s*new(?:\s+Option<[^>]+>)?|(?<var>\w+)\([^)]*\)\s*=>\s*new)" +
            @"\s*\(\s*""(?<flag>--[\w-]+)""")]
        private static partial Regex OptionDeclaration();

        [GeneratedRegex(@"(?<var>\w+)\s*=\s*SharedOptions\.(?<method>\w+)\(")]
        private static partial Regex SharedUse();

        [GeneratedRegex(@"DefaultValueFactory\s*=\s*_\s*=>\s*(?<expr>[^,}\r\n]+)")]
        private static partial Regex DefaultFactory();

        /// <summary>A number, string, char or bool literal (optionally negative, with a type suffix).</summary>
        [GeneratedRegex(@"^(-?\d[\d_.]*(?:[eE][+-]?\d+)?[dDfFmMlLuU]*|""[^""]*""|'[^']*'|true|false)$")]
        private static partial Regex Literal();

        [GeneratedRegex(
            @"public\s+(?<required>required\s+)?[\w<>\[\](),.? ]+?\s+(?<name>\w+)\s*\{\s*get;\s*(?:init|set);\s*\}" +
            @"(?<init>\s*=)?")]
        private static partial Regex InitProperty();

        [GeneratedRegex(@"record\s+(?:struct\s+)?(?<type>\w+)\s*\((?<params>[^)]*)\)")]
        private static partial Regex PositionalDeclaration();

        [GeneratedRegex(@"(?<name>\w+)\s*(?:=.*)?$")]
        private static partial Regex ParameterName();

        [GeneratedRegex(@"\bnew\s+(?<type>[A-Z]\w*)\s*\(")]
        private static partial Regex NewPositional();
    }
}
