namespace BrainMClip.Tests;

/// <summary>Locations of the committed test fixtures (golden references included).</summary>
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

    /// <summary>
    /// The committed golden fixtures (Fixtures/golden, copied byte for byte with provenance in its README), or
    /// $BRAINMCLIP_GOLDEN. Nothing outside the repository is read, so the suite runs from a bare clone.
    /// </summary>
    public static string GoldenRoot =>
        Environment.GetEnvironmentVariable("BRAINMCLIP_GOLDEN") is { Length: > 0 } g ? g : Fixture("golden");

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
