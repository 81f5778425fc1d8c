using System.Text;
using System.Text.Json;
using BrainMClip.IO;
using Xunit;

namespace BrainMClip.Tests.IO;

/// <summary>The MAT-v5 reader against files written by scipy.io.savemat (tests/fixtures-gen/mat_fixtures.py).</summary>
public class MatFileTests
{
    static readonly JsonElement Expected =
        JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("data/mat/mat_expected.json"))).RootElement;

    static string Fx(string name) => TestPaths.Fixture("data/mat/" + name);

    [Theory]
    [InlineData("numeric.mat")]
    [InlineData("numeric_z.mat")]
    public void MatchesScipyValuesDimsAndClassesInCOrder(string file)
    {
        var mat = MatFile.Read(Fx(file));
        Assert.Equal(Expected.EnumerateObject().Select(p => p.Name).OrderBy(x => x, StringComparer.Ordinal),
            mat.Names.OrderBy(x => x, StringComparer.Ordinal));
        foreach (var p in Expected.EnumerateObject())
        {
            var v = mat.Numeric(p.Name, "a numeric matrix");
            Assert.Equal(p.Value.GetProperty("dims").EnumerateArray().Select(x => x.GetInt32()), v.Dims);
            Assert.Equal(p.Value.GetProperty("class").GetString(), v.Class);
            var want = p.Value.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(want, v.Values); // exact: every fixture value is representable
        }
        // The non-symmetric matrix: element (1, 2) of a 3×4 matrix, row-major.
        var a = mat.Numeric("a", "3×4");
        Assert.Equal(10 * 6 - 2, a.Values[1 * 4 + 2]);
        Assert.Equal(new[] { 2, 3, 4 }, mat.Numeric("cube", "3-D").Dims);
    }

    [Fact]
    public void RefusesCellsStructsSparseComplexAndCharByName()
    {
        var mat = MatFile.Read(Fx("unsupported.mat"));
        Assert.Equal(new[] { 1.0, 2, 3, 4 }, mat.Numeric("ok", "2×2").Values);
        foreach (var (name, kind) in new[]
        {
            ("cellvar", "cell"), ("structvar", "struct"), ("sparsevar", "sparse"), ("complexvar", "complex"),
            ("charvar", "char"),
        })
        {
            var e = Assert.Throws<UserInputException>(() => mat.Numeric(name, "a numeric matrix"));
            Assert.Contains("unsupported.mat", e.Message);
            Assert.Contains($"'{name}'", e.Message);
            Assert.Contains(kind, e.Message);
            Assert.Contains("expected a numeric matrix", e.Message);
        }
        var missing = Assert.Throws<UserInputException>(() => mat.Numeric("nothere", "a 1×1000 matrix"));
        Assert.Contains("'nothere' not found", missing.Message);
        Assert.Contains("ok", missing.Message);
    }

    [Theory]
    [InlineData("numeric.mat")]
    [InlineData("numeric_z.mat")]
    public void EveryTruncationIsRefusedNamingTheFile(string file)
    {
        var bytes = File.ReadAllBytes(Fx(file));
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "cut.mat");
        // Cuts inside the header, inside a tag, and inside data; the full file parses.
        foreach (int cut in new[] { 0, 60, 127, 130, 200, bytes.Length / 2, bytes.Length - 3, bytes.Length - 1 })
        {
            File.WriteAllBytes(p, bytes[..cut]);
            var e = Assert.Throws<UserInputException>(() => MatFile.Read(p));
            Assert.Contains(p, e.Message);
        }
    }

    [Fact]
    public void RefusesV73V4AndCorruptCompression()
    {
        using var dir = new TempDir();
        var h = new byte[1024];
        Encoding.ASCII.GetBytes("MATLAB 7.3 MAT-file, Platform: GLNXA64").CopyTo(h, 0);
        h[124] = 0; h[125] = 2; h[126] = (byte)'I'; h[127] = (byte)'M';
        new byte[] { 0x89, (byte)'H', (byte)'D', (byte)'F', 13, 10, 26, 10 }.CopyTo(h, 512);
        string v73 = Path.Combine(dir.Path, "v73.mat");
        File.WriteAllBytes(v73, h);
        Assert.Contains("v7.3", Assert.Throws<UserInputException>(() => MatFile.Read(v73)).Message);

        string v4 = Path.Combine(dir.Path, "v4.mat");
        File.WriteAllBytes(v4, new byte[200]);
        Assert.Contains("v4", Assert.Throws<UserInputException>(() => MatFile.Read(v4)).Message);

        var z = File.ReadAllBytes(Fx("numeric_z.mat"));
        for (int i = 140; i < 180; i++) z[i] ^= 0x5a; // inside the first compressed stream
        string bad = Path.Combine(dir.Path, "badz.mat");
        File.WriteAllBytes(bad, z);
        var e = Assert.Throws<UserInputException>(() => MatFile.Read(bad));
        Assert.Contains(bad, e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WriterRoundTripsThroughTheReader(bool compress)
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "w.mat");
        double[] m = [1, 2, 3, 4, 5, 6];
        MatFile.Write(p, [("m", [2, 3], m), ("v", [1, 4], [7, 8, 9, 10.5])], compress);
        var r = MatFile.Read(p);
        Assert.Equal(m, r.Numeric("m", "2×3").Values);
        Assert.Equal(new[] { 2, 3 }, r.Numeric("m", "2×3").Dims);
        Assert.Equal(new[] { 7, 8, 9, 10.5 }, r.Numeric("v", "1×4").Values);
    }
}
