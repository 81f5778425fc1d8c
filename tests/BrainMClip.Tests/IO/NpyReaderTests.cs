using System.Text.Json;
using BrainMClip.IO;
using Xunit;

namespace BrainMClip.Tests.IO;

/// <summary>The NPY reader against files written by numpy (tests/fixtures-gen/data_fixtures.py).</summary>
public class NpyReaderTests
{
    static readonly JsonElement Expected =
        JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("data/npy/npy_expected.json"))).RootElement;

    public static TheoryData<string> Files()
    {
        var d = new TheoryData<string>();
        foreach (var p in Expected.EnumerateObject()) d.Add(p.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ReadsNumpyFilesOfEveryVersionAndDtype(string name)
    {
        var e = Expected.GetProperty(name);
        var a = Npy.Read(TestPaths.Fixture("data/npy/" + name));
        var dtype = e.GetProperty("dtype").GetString() switch
        {
            "float64" => NpyDType.Float64,
            "float32" => NpyDType.Float32,
            "int16" => NpyDType.Int16,
            "uint8" => NpyDType.UInt8,
            var s => throw new InvalidOperationException(s),
        };
        Assert.Equal(dtype, a.DType);
        Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(), a.Shape);
        var want = e.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var got = a.ToFloat64();
        Assert.Equal(want.Length, got.Length);
        // Exact: every dtype here converts to double without rounding.
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i]);
    }

    [Fact]
    public void VersionsAgreeByteForByte()
    {
        foreach (var t in new[] { "float64", "float32", "int16", "uint8" })
        {
            var v1 = Npy.Read(TestPaths.Fixture($"data/npy/{t}_v1.npy"));
            foreach (var v in new[] { 2, 3 })
                Assert.Equal(v1.Data, Npy.Read(TestPaths.Fixture($"data/npy/{t}_v{v}.npy")).Data);
        }
    }

    [Fact]
    public void FortranOrderIsAClearError()
    {
        string p = TestPaths.Fixture("data/npy/fortran.npy");
        var e = Assert.Throws<UserInputException>(() => Npy.Read(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("Fortran", e.Message);
    }

    [Fact]
    public void TruncatedFileNamesTheFile()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "t.npy");
        var bytes = File.ReadAllBytes(TestPaths.Fixture("data/npy/float64_v2.npy"));
        File.WriteAllBytes(p, bytes[..^5]);
        var e = Assert.Throws<UserInputException>(() => Npy.Read(p));
        Assert.Contains(p, e.Message);
        Assert.Contains("truncated", e.Message);
        File.WriteAllBytes(p, bytes[..9]);
        Assert.Contains(p, Assert.Throws<UserInputException>(() => Npy.Read(p)).Message);
    }

    [Fact]
    public void WriterRoundTripsAndReadRowsSlices()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "w.npy");
        var v = Enumerable.Range(0, 24).Select(i => i * 0.25f - 3).ToArray();
        Npy.WriteFloat32(p, [4, 6], v);
        var a = Npy.Read(p);
        Assert.Equal(new long[] { 4, 6 }, a.Shape);
        Assert.Equal(v, a.ToFloat32());
        var rows = Npy.ReadRows(p, 1, 2);
        Assert.Equal(new long[] { 2, 6 }, rows.Shape);
        Assert.Equal(v[6..18], rows.ToFloat32());
    }
}

public class NpyReadTensorTests
{
    [Fact]
    public void ReadTensorKeepsDTypeShapeAndValues()
    {
        using var dir = new TempDir();
        string f32 = Path.Combine(dir.Path, "a.npy"), i16 = Path.Combine(dir.Path, "b.npy");
        var values = new float[] { 1.5f, -2.25f, 3e-8f, float.MaxValue, 0f, -0f };
        BrainMClip.IO.Npy.WriteFloat32(f32, [2, 3], values);
        var shorts = new short[] { -300, 0, 7, 32767 };
        BrainMClip.IO.Npy.Write(i16, BrainMClip.IO.NpyDType.Int16, [4],
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(shorts.AsSpan()));
        using var v = BrainMClip.IO.Npy.ReadTensor(f32);
        Assert.Equal(new long[] { 2, 3 }, v.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, v.dtype);
        Assert.Equal(values, v.data<float>().ToArray());
        using var w = BrainMClip.IO.Npy.ReadTensor(i16);
        Assert.Equal(TorchSharp.torch.ScalarType.Int16, w.dtype);
        Assert.Equal(shorts, w.data<short>().ToArray());
    }

    [Fact]
    public void ReadTensorOfTruncatedFileNamesTheFile()
    {
        using var dir = new TempDir();
        string f = Path.Combine(dir.Path, "t.npy");
        BrainMClip.IO.Npy.WriteFloat32(f, [4, 4], new float[16]);
        var bytes = File.ReadAllBytes(f);
        File.WriteAllBytes(f, bytes[..^8]);
        var e = Assert.Throws<BrainMClip.UserInputException>(() => BrainMClip.IO.Npy.ReadTensor(f));
        Assert.Contains("t.npy", e.Message);
    }
}
