using System.Text;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Data;

/// <summary>
/// Each bad-input case of issue 2 item 7 through the CLI entry point: exit code 2 and a message naming the file.
/// Every test works on a fresh copy of the fixture subject 1.
/// </summary>
[Collection("Console")]
public class BadInputTests : IDisposable
{
    readonly TempDir _dir = new();
    string Root => _dir.Path;

    public BadInputTests()
    {
        string src = TestPaths.Fixture("data/nsd");
        foreach (var f in Directory.GetFiles(src, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(src, f);
            if (!rel.Contains("subj01") || rel.StartsWith("expected")) continue;
            string dst = Path.Combine(Root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
    }

    public void Dispose() => _dir.Dispose();

    string Fmri(string split) => NsdSubject.FmriPathOf(Root, 1, split);
    string Stim(string split) => NsdSubject.StimuliPathOf(Root, 1, split);
    string Roi(string mask) => NsdSubject.RoiPathOf(Root, 1, mask);

    string Info(string mustName)
    {
        var (code, stdout, err) = CliRunner.Run("data", "info", "--data", Root);
        Assert.True(code == 2, $"exit {code}; stderr: {err}");
        Assert.DoesNotContain("\"voxels_detail\"", stdout); // no report on failure
        Assert.Contains(mustName, err);
        Assert.DoesNotContain("   at ", err); // no stack trace
        return err;
    }

    [Fact]
    public void ValidCopyPasses()
    {
        var (code, _, err) = CliRunner.Run("data", "info", "--data", Root);
        Assert.True(code == 0, err);
    }

    [Fact]
    public void MissingFile()
    {
        File.Delete(Stim("test"));
        Assert.Contains("not found", Info(Stim("test")));
        File.Copy(NsdSubject.StimuliPathOf(TestPaths.Fixture("data/nsd"), 1, "test"), Stim("test"));
        File.Delete(Roi("floc-places"));
        Info(Roi("floc-places"));
    }

    [Fact]
    public void MissingDataRoot()
    {
        var (code, _, err) = CliRunner.Run("data", "info", "--data", Path.Combine(Root, "nope"));
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(Root, "nope"), err);
    }

    [Fact]
    public void TruncatedNpy()
    {
        var b = File.ReadAllBytes(Fmri("train"));
        File.WriteAllBytes(Fmri("train"), b[..(b.Length - 100)]);
        Assert.Contains("truncated", Info(Fmri("train")));
    }

    [Fact]
    public void TruncatedNiftiGz()
    {
        var b = File.ReadAllBytes(Roi("floc-words"));
        File.WriteAllBytes(Roi("floc-words"), b[..(b.Length * 2 / 3)]);
        Info(Roi("floc-words"));
    }

    [Fact]
    public void UnsupportedNpyDtype()
    {
        // Same element size, so only the dtype is wrong: complex64 is not a dtype we read.
        var b = File.ReadAllBytes(Fmri("test"));
        int at = Encoding.Latin1.GetString(b).IndexOf("'<f8'", StringComparison.Ordinal);
        Assert.True(at > 0);
        Encoding.Latin1.GetBytes("'<c8'").CopyTo(b, at);
        File.WriteAllBytes(Fmri("test"), b);
        Assert.Contains("dtype", Info(Fmri("test")));
    }

    [Fact]
    public void FmriDtypeNotAllowedForFmri()
    {
        var a = Npy.Read(Fmri("train"));
        var longs = a.ToFloat64().Select(v => (long)v).ToArray();
        Npy.Write(Fmri("train"), NpyDType.Int64, a.Shape,
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(longs.AsSpan()));
        Assert.Contains("dtype", Info(Fmri("train")));
    }

    [Fact]
    public void NsdGeneralCountDiffersFromColumns()
    {
        var m = Nifti.Read(Roi("nsdgeneral"));
        var v = (double[])m.Values.Clone();
        int i = Array.FindIndex(v, x => x == 0);
        v[i] = 1;
        Nifti.Write(Roi("nsdgeneral"), m.Shape, v, NiftiDataType.Int16);
        var err = Info(Roi("nsdgeneral"));
        Assert.Contains(Fmri("train"), err);
    }

    [Fact]
    public void TrainTestVoxelCountsDiffer()
    {
        var a = Npy.Read(Fmri("test"));
        long rows = a.Shape[0], cols = a.Shape[1];
        var d = a.ToFloat64();
        var cut = new double[rows * (cols - 1)];
        for (long r = 0; r < rows; r++) Array.Copy(d, r * cols, cut, r * (cols - 1), cols - 1);
        Npy.Write(Fmri("test"), NpyDType.Float64, [rows, cols - 1],
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(cut.AsSpan()));
        Assert.Contains("same voxels", Info(Fmri("test")));
    }

    [Fact]
    public void StimulusCountDiffersFromRows()
    {
        var s = Npy.Read(Stim("train"));
        long per = s.Count / s.Shape[0];
        Npy.Write(Stim("train"), s.DType, [s.Shape[0] - 1, .. s.Shape[1..]],
            s.Data.AsSpan(0, (int)(per * (s.Shape[0] - 1))));
        var err = Info(Stim("train"));
        Assert.Contains("rows", err);
    }

    [Theory]
    [InlineData("train", double.NaN, 2, 3)]
    [InlineData("test", double.PositiveInfinity, 1, 0)]
    public void NonFiniteFmriReportsRowAndColumn(string split, double bad, int row, int col)
    {
        var a = Npy.Read(Fmri(split));
        var d = a.ToFloat64();
        d[row * a.Shape[1] + col] = bad;
        Npy.Write(Fmri(split), NpyDType.Float64, a.Shape,
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.AsSpan()));
        Assert.Contains($"row {row}, column {col}", Info(Fmri(split)));
    }
}
