using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests.Architecture;

/// <summary>
/// The folders of src/ form layers (Common ← IO ← Data/Features/Model ← Training ← Generation ← Evaluation ← Parity ←
/// Report ← Cli): a folder may use the ones below it, never one that uses it back. The graph is read from the sources:
/// <c>using</c> directives, qualified <c>BrainMClip.*</c> names and the names of types declared in an enclosing
/// namespace (which C# makes visible without a using).
/// </summary>
public sealed partial class FolderCycleTests
{
    [Fact]
    public void SrcHasNoImportCycleBetweenFolders()
    {
        var graph = FolderGraph.Read(Path.Combine(TestPaths.RepoRoot, "src"));
        Assert.True(graph.Edges.Count > 10,
            $"only {graph.Edges.Count} folder dependencies found: the reader is broken");
        var cycle = graph.FindCycle();
        Assert.True(cycle is null, cycle is null ? "" : "import cycle between folders: " + graph.Describe(cycle));
    }

    [Fact]
    public void ACycleThroughAUsingOrAnEnclosingNamespaceIsFound()
    {
        using var dir = new TempDir();
        void Write(string rel, string text)
        {
            var path = Path.Combine(dir.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        Write("P/Common/Errors.cs",
            "namespace BrainMClip;\npublic sealed class Oops { object x = new BrainMClip.IO.Reader(); }\n");
        Write("P/IO/Reader.cs", "namespace BrainMClip.IO;\npublic sealed class Reader { Oops? o; }\n");
        Write("P/Model/Net.cs",
            "using BrainMClip.IO;\nnamespace BrainMClip.Model;\npublic sealed class Net { Reader? r; }\n");
        var graph = FolderGraph.Read(dir.Path);
        Assert.Contains(("P/Model", "P/IO"), graph.Edges.Keys);
        Assert.Contains(("P/IO", "P/Common"), graph.Edges.Keys);
        var cycle = graph.FindCycle();
        Assert.NotNull(cycle);
        Assert.Equal(["P/Common", "P/IO"], cycle!.Order(StringComparer.Ordinal));

        Write("P/Common/Errors.cs", "namespace BrainMClip;\npublic sealed class Oops { }\n");
        Assert.Null(FolderGraph.Read(dir.Path).FindCycle());
    }

    [Fact]
    public void ACycleBetweenAFolderAndItsSubfolderIsFound()
    {
        using var dir = new TempDir();
        void Write(string rel, string text)
        {
            var path = Path.Combine(dir.Path, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        // Evaluation uses Evaluation/Networks by a using; Networks uses a type of its enclosing namespace.
        Write("P/Evaluation/Scorer.cs", "using BrainMClip.Evaluation.Networks;\nnamespace BrainMClip.Evaluation;\n" +
            "public sealed class Scorer { AlexNet? a; }\n");
        Write("P/Evaluation/Networks/AlexNet.cs",
            "namespace BrainMClip.Evaluation.Networks;\npublic sealed class AlexNet { Scorer? s; }\n");
        var cycle = FolderGraph.Read(dir.Path).FindCycle();
        Assert.NotNull(cycle);
        Assert.Equal(["P/Evaluation", "P/Evaluation/Networks"], cycle!.Order(StringComparer.Ordinal));

        Write("P/Evaluation/Networks/AlexNet.cs",
            "namespace BrainMClip.Evaluation.Networks;\npublic sealed class AlexNet { }\n");
        Assert.Null(FolderGraph.Read(dir.Path).FindCycle());
    }

    /// <summary>Folder-level dependency graph: node = project/top folder ("BrainMClip.Core/IO").</summary>
    sealed partial class FolderGraph
    {
        /// <summary>(from, to) → one file of <c>from</c> that makes the reference.</summary>
        public Dictionary<(string From, string To), string> Edges { get; } = [];

        public static FolderGraph Read(string srcRoot)
        {
            var files = Directory.EnumerateFiles(srcRoot, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
                .Select(f =>
                    (Path: f, Folder: FolderOf(srcRoot, f), Code: StripCommentsAndStrings(File.ReadAllText(f))))
                .Select(f => (f.Path, f.Folder, f.Code, Namespace: NamespaceRegex().Match(f.Code).Groups[1].Value))
                .Where(f => f.Namespace.Length > 0).ToList();
            var folderOfNamespace = new Dictionary<string, string>(StringComparer.Ordinal);
            var typesOfNamespace = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var f in files)
            {
                folderOfNamespace.TryAdd(f.Namespace, f.Folder);
                if (!typesOfNamespace.TryGetValue(f.Namespace, out var set)) typesOfNamespace[f.Namespace] = set = [];
                foreach (Match m in TypeDeclarationRegex().Matches(f.Code)) set.Add(m.Groups[1].Value);
            }
            var graph = new FolderGraph();
            foreach (var f in files)
            {
                var identifiers = IdentifierRegex().Matches(f.Code).Select(m => m.Value)
                    .ToHashSet(StringComparer.Ordinal);
                foreach (Match m in QualifiedNameRegex().Matches(f.Code))
                    if (LongestNamespace(m.Value, folderOfNamespace) is { } ns) graph.Add(f.Folder,
                        folderOfNamespace[ns], f.Path);
                // Types of enclosing namespaces (e.g. BrainMClip for BrainMClip.IO) are visible without a using.
                var parts = f.Namespace.Split('.');
                for (int i = 1; i < parts.Length; i++)
                {
                    string outer = string.Join('.', parts[..i]);
                    if (typesOfNamespace.TryGetValue(outer, out var types) && types.Overlaps(identifiers))
                        graph.Add(f.Folder, folderOfNamespace[outer], f.Path);
                }
            }
            return graph;
        }

        void Add(string from, string to, string file)
        {
            if (from != to) Edges.TryAdd((from, to), file);
        }

        /// <summary>The folders of one cycle, or null when the graph is acyclic.</summary>
        public List<string>? FindCycle()
        {
            var next = Edges.Keys.GroupBy(e => e.From)
                .ToDictionary(g => g.Key, g => g.Select(e => e.To).Order().ToList());
            var state = new Dictionary<string, int>();   // 1 = on the current path, 2 = done
            var path = new List<string>();
            List<string>? Visit(string n)
            {
                state[n] = 1; path.Add(n);
                foreach (var m in next.GetValueOrDefault(n, []))
                {
                    if (state.GetValueOrDefault(m) == 1) return path[path.IndexOf(m)..];
                    if (state.GetValueOrDefault(m) == 0 && Visit(m) is { } c) return c;
                }
                state[n] = 2; path.RemoveAt(path.Count - 1);
                return null;
            }
            foreach (var n in next.Keys.Order())
                if (state.GetValueOrDefault(n) == 0 && Visit(n) is { } cycle) return cycle;
            return null;
        }

        public string Describe(List<string> cycle) => string.Join("; ", cycle.Select((a, i) =>
        {
            var b = cycle[(i + 1) % cycle.Count];
            return $"{a} → {b} ({Edges[(a, b)]})";
        }));

        /// <summary>The file's folder at full depth ("BrainMClip.Core/Evaluation/Networks"): a subfolder is a node
        /// of its own, so a cycle between a folder and its subfolder is found too.</summary>
        static string FolderOf(string root, string file) =>
            string.Join('/', Path.GetRelativePath(root, Path.GetDirectoryName(file)!).Split(Path.DirectorySeparatorChar));

        static string? LongestNamespace(string qualified, Dictionary<string, string> known)
        {
            var parts = qualified.Split('.');
            for (int i = parts.Length; i >= 1; i--)
            {
                string candidate = string.Join('.', parts[..i]);
                if (known.ContainsKey(candidate)) return candidate;
            }
            return null;
        }

        static string StripCommentsAndStrings(string code) => StringOrCommentRegex().Replace(code, " ");

        [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)'",
            RegexOptions.Singleline)]
        private static partial Regex StringOrCommentRegex();

        [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
        private static partial Regex NamespaceRegex();

        [GeneratedRegex(@"\b(?:class|struct|interface|enum|record)\s+(\w+)")]
        private static partial Regex TypeDeclarationRegex();

        [GeneratedRegex(@"\bBrainMClip(?:\.[A-Z]\w*)+")]
        private static partial Regex QualifiedNameRegex();

        [GeneratedRegex(@"\b[A-Z]\w*\b")]
        private static partial Regex IdentifierRegex();
    }
}
