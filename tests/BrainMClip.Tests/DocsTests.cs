using System.Text.RegularExpressions;
using Xunit;

namespace BrainMClip.Tests;

/// <summary>The repository's documentation stands alone: no reference to a specification outside it, no dead
/// links.</summary>
public partial class DocsTests
{
    static IEnumerable<string> Sources(string root) =>
        new[] { "src", "docs", "scripts", "tests/fixtures-gen" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Where(f => Path.GetExtension(f) is ".cs" or ".md" or ".py" or ".sh" or ".sbatch")
            .Concat([Path.Combine(root, "README.md"), Path.Combine(root, "CONTRIBUTING.md")]);

    [GeneratedRegex(@"\bSPEC\b|SPEC\.md|\.\./shared")]
    private static partial Regex OutsideReference();

    [Fact]
    public void NothingReferencesTheFormerSpecificationOrSharedFolders()
    {
        var hits = Sources(TestPaths.RepoRoot)
            .SelectMany(f => File.ReadLines(f).Select((line, n) => (f, n, line)))
            .Where(x => OutsideReference().IsMatch(x.line)
                        && !x.f.EndsWith("DocsTests.cs", StringComparison.Ordinal)
                        // the golden fallback, being moved in-repo
                        && !x.f.EndsWith("TestPaths.cs", StringComparison.Ordinal))
            .Select(x => $"{Path.GetRelativePath(TestPaths.RepoRoot, x.f)}:{x.n + 1}: {x.line.Trim()}")
            .ToList();
        Assert.True(hits.Count == 0, "references to a document outside the repository:\n" + string.Join("\n", hits));
    }

    [GeneratedRegex(@"\]\((?!https?:)([^)#]+)(#[^)]*)?\)")]
    private static partial Regex MarkdownLink();

    [Fact]
    public void EveryRelativeLinkInTheDocsResolves()
    {
        var root = TestPaths.RepoRoot;
        var pages = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md"));
        var dead = pages.SelectMany(p => MarkdownLink().Matches(File.ReadAllText(p))
                .Select(m => (p, target: m.Groups[1].Value)))
            .Where(x => !File.Exists(Path.Combine(Path.GetDirectoryName(x.p)!, x.target))
                        && !Directory.Exists(Path.Combine(Path.GetDirectoryName(x.p)!, x.target)))
            .Select(x => $"{Path.GetFileName(x.p)} → {x.target}").ToList();
        Assert.True(dead.Count == 0, "dead links:\n" + string.Join("\n", dead));
        Assert.True(pages.Count() >= 10);
    }
}
