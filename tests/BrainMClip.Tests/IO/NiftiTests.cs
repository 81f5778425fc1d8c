using System.Text.Json;
using BrainMClip.IO;
using Xunit;

namespace BrainMClip.Tests.IO;

/// <summary>The NIfTI-1 reader against files written by nibabel (tests/fixtures-gen/data_fixtures.py).</summary>
public class NiftiTests
{
    static readonly JsonElement Expected =
        JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("data/nifti/nifti_expected.json"))).RootElement;

    public static TheoryData<string> Files()
    {
        var d = new TheoryData<string>();
        foreach (var p in Expected.EnumerateObject()) d.Add(p.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void MatchesNibabelInSpecVoxelOrder(string name)
    {
        var e = Expected.GetProperty(name);
        var v = Nifti.Read(TestPaths.Fixture("data/nifti/" + name));
        Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(), v.Shape);
        Assert.Equal(e.GetProperty("datatype").GetInt32(), (int)v.DataType);
        var want = e.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        Assert.Equal(want.Length, v.Values.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - v.Values[i]) <= 1e-9 * Math.Max(1, Math.Abs(want[i])),
                $"{name}[{i}]: expected {want[i]}, got {v.Values[i]}");
    }

    [Fact]
    public void ScaledInt16AppliesSlopeAndIntercept()
    {
        var e = Expected.GetProperty("int16_scaled.nii.gz");
        var v = Nifti.Read(TestPaths.Fixture("data/nifti/int16_scaled.nii.gz"));
        Assert.Equal(e.GetProperty("slope").GetDouble(), v.Slope, 12);
        Assert.Equal(e.GetProperty("inter").GetDouble(), v.Intercept, 12);
        Assert.NotEqual(1.0, v.Slope);
    }

    [Fact]
    public void IndexerIsCOrderWithZFastest()
    {
        var v = Nifti.Read(TestPaths.Fixture("data/nifti/int32.nii"));
        var want = Expected.GetProperty("int32.nii").GetProperty("values");
        // [x=1, y=2, z=3] in a 5×6×7 grid: C order index (1·6 + 2)·7 + 3 = 59.
        Assert.Equal(want[59].GetDouble(), v[1, 2, 3]);
        Assert.Equal(59, v.Index(1, 2, 3));
        Assert.True(v.BigEndian == false);
        Assert.True(Nifti.Read(TestPaths.Fixture("data/nifti/float32_bigendian.nii")).BigEndian);
    }

    [Fact]
    public void UnsupportedDatatypeNamesTheFile()
    {
        string p = TestPaths.Fixture("data/nifti/complex64.nii.gz");
        var ex = Assert.Throws<UserInputException>(() => Nifti.Read(p));
        Assert.Contains(p, ex.Message);
        Assert.Contains("datatype", ex.Message);
    }

    [Fact]
    public void TruncatedGzipAndAbsurdDimsAreClearErrors()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "t.nii.gz");
        var bytes = File.ReadAllBytes(TestPaths.Fixture("data/nifti/float64.nii.gz"));
        File.WriteAllBytes(p, bytes[..(bytes.Length / 2)]);
        Assert.Contains(p, Assert.Throws<UserInputException>(() => Nifti.Read(p)).Message);

        string q = Path.Combine(dir.Path, "big.nii");
        var raw = File.ReadAllBytes(TestPaths.Fixture("data/nifti/uint8.nii"));
        BitConverter.GetBytes((short)30000).CopyTo(raw, 42); // dim[1]
        BitConverter.GetBytes((short)30000).CopyTo(raw, 44); // dim[2]
        File.WriteAllBytes(q, raw);
        var ex = Assert.Throws<UserInputException>(() => Nifti.Read(q));
        Assert.Contains(q, ex.Message);
        Assert.Contains("truncated", ex.Message);

        string r = Path.Combine(dir.Path, "not.nii.gz");
        File.WriteAllBytes(r, raw);
        Assert.Contains(r, Assert.Throws<UserInputException>(() => Nifti.Read(r)).Message);
    }

    [Theory]
    [InlineData("w.nii.gz", NiftiDataType.Int16)]
    [InlineData("w.nii", NiftiDataType.Float32)]
    [InlineData("w.nii.gz", NiftiDataType.Float64)]
    [InlineData("w.nii", NiftiDataType.UInt8)]
    public void WriterRoundTrips(string file, NiftiDataType dtype)
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, file);
        int[] shape = [3, 4, 5];
        var vals = Enumerable.Range(0, 60).Select(i => dtype == NiftiDataType.UInt8 ? i : i * 1.5 - 20).ToArray();
        if (dtype == NiftiDataType.Int16) vals = vals.Select(x => Math.Round(x)).ToArray();
        Nifti.Write(p, shape, vals, dtype);
        var v = Nifti.Read(p);
        Assert.Equal(shape, v.Shape);
        Assert.Equal(dtype, v.DataType);
        Assert.Equal(vals, v.Values);
    }
}
