namespace BrainMClip.Tests;

/// <summary>Locations of the shared golden fixtures and the committed test fixtures.</summary>
public static class TestPaths
{
    /// <summary>The repository root (folder holding BrainMClip.slnx), found by walking up from the test
    /// binary.</summary>
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d != null && !File.Exists(Path.Combine(d.FullName, "BrainMClip.slnx"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    /// <summary>`../shared/golden` beside the repository (as laid out for developers and CI), or
    /// $BRAINMCLIP_GOLDEN.</summary>
    public static string GoldenRoot =>
        Environment.GetEnvironmentVariable("BRAINMCLIP_GOLDEN") is { Length: > 0 } g
            ? g
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden"));

    public static string Golden(string relative) => Path.Combine(GoldenRoot, relative);

    /// <summary>Committed fixtures under tests/BrainMClip.Tests/Fixtures.</summary>
    public static string Fixture(string relative) =>
        Path.Combine(RepoRoot, "tests", "BrainMClip.Tests", "Fixtures", relative);
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path
    { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bmc-test-" + Guid.NewGuid()
        .ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
