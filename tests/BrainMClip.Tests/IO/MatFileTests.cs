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

    /// <summary>
    /// MATLAB stores a double array holding small integers in a narrower element type (here miUINT8 / miINT16 in
    /// "small data elements"), and old files may be big-endian: built byte by byte from the format description.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DoubleClassStoredNarrowInEitherByteOrder(bool bigEndian)
    {
        var b = new List<byte>();
        void U32(uint v) => b.AddRange(bigEndian ? BitConverter.GetBytes(v).Reverse() : BitConverter.GetBytes(v));
        void U16(ushort v) => b.AddRange(bigEndian ? BitConverter.GetBytes(v).Reverse() : BitConverter.GetBytes(v));
        b.AddRange(Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, hand-built".PadRight(116)));
        b.AddRange(new byte[8]);
        U16(0x0100);
        b.AddRange(bigEndian ? "MI"u8.ToArray() : "IM"u8.ToArray());
        U32(14); U32(48);                       // miMATRIX, 48 bytes of sub-elements
        U32(6); U32(8); U32(6); U32(0);         // array flags: class double
        U32(5); U32(8); U32(2); U32(2);         // dims 2×2
        U32((2u << 16) | 1); b.AddRange("mm\0\0"u8.ToArray()); // name "mm", small element
        U32((4u << 16) | 2); b.AddRange(new byte[] { 1, 2, 3, 250 }); // values, miUINT8 small: column-major
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "hand.mat");
        File.WriteAllBytes(p, b.ToArray());
        var v = MatFile.Read(p).Numeric("mm", "2×2");
        Assert.Equal("double", v.Class);
        Assert.Equal(new[] { 2, 2 }, v.Dims);
        Assert.Equal(new[] { 1.0, 3, 2, 250 }, v.Values); // (0,0)=1 (1,0)=2 (0,1)=3 (1,1)=250 in C order
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

/// <summary>The 4-D NIfTI reader against the same betas written by h5py (750×Z×Y×X) and nibabel (X×Y×Z×750).</summary>
public class NiftiSeriesTests
{
    [Fact]
    public void EveryVoxelOfEveryTrialMatchesTheHdf5Copy()
    {
        string dir = TestPaths.Fixture(
            "data/nsd_release/release/nsddata_betas/ppdata/subj03/func1pt8mm/betas_fithrf_GLMdenoise_RR");
        using var s = NiftiSeries.Open(Path.Combine(dir, "betas_session02.nii.gz"));
        Assert.Equal(new[] { 5, 4, 3 }, s.Shape);
        Assert.Equal(750, s.Volumes);
        Assert.Equal(NiftiDataType.Int16, s.DataType);
        using var h5 = Hdf5File.Open(Path.Combine(dir, "betas_session02.hdf5"));
        var h = h5.Dataset("betas").ReadRows<short>(0, 750); // [t][z][y][x]
        // Ask for every voxel in C order over [x,y,z]; the HDF5 copy is indexed [t, z, y, x].
        var idx = new List<int>();
        var hIdx = new List<int>();
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 4; y++)
                for (int z = 0; z < 3; z++) { idx.Add(s.FileIndex(x, y, z)); hIdx.Add((z * 4 + y) * 5 + x); }
        var got = new float[60];
        for (int t = 0; t < 750; t++)
        {
            s.ReadNext(idx.ToArray(), got);
            for (int i = 0; i < 60; i++) Assert.Equal(h[t * 60 + hIdx[i]], got[i]);
        }
        Assert.Throws<InvalidOperationException>(() => s.ReadNext(idx.ToArray(), got));
    }

    [Fact]
    public void WriterRoundTripsAndThreeDReaderRefusesASeries()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "s.nii.gz");
        int[] grid = [3, 4, 2];
        Nifti.WriteSeries(p, grid, 5, t => Enumerable.Range(0, 24).Select(i => (double)(t * 100 + i)).ToArray(),
            NiftiDataType.Int16);
        using (var s = NiftiSeries.Open(p))
        {
            var got = new float[1];
            for (int t = 0; t < 5; t++)
            {
                s.ReadNext([s.FileIndex(2, 1, 1)], got); // C-order index (2·4 + 1)·2 + 1 = 19
                Assert.Equal(t * 100 + 19, got[0]);
            }
        }
        var e = Assert.Throws<UserInputException>(() => Nifti.Read(p));
        Assert.Contains("3-D volume is expected", e.Message);
        string three = Path.Combine(dir.Path, "v.nii.gz");
        Nifti.Write(three, grid, new double[24], NiftiDataType.Int16);
        Assert.Contains("4-D series", Assert.Throws<UserInputException>(() => NiftiSeries.Open(three)).Message);
    }
}
