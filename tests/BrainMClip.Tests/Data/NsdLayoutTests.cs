using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Data;

/// <summary>
/// The NSD layout reader against a tiny data root written by numpy + nibabel, whose expected stream matrices
/// were computed in numpy with mask[mask &gt; 0] indexing (tests/fixtures-gen/data_fixtures.py).
/// </summary>
[Collection("Console")]
public class NsdLayoutTests
{
    static string Root => TestPaths.Fixture("data/nsd");
    static string Expected(string name) => Path.Combine(Root, "expected", name);
    static JsonElement Info(int subj) =>
        JsonDocument.Parse(File.ReadAllText(Expected($"subj0{subj}_info.json"))).RootElement;

    static void AssertClose(float[] want, float[] got, double tol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= tol * Math.Max(1, Math.Abs(want[i])),
                $"{what}[{i}]: expected {want[i]}, got {got[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void CountsRoisAndBetaScaleMatchNumpy(int subj)
    {
        var e = Info(subj);
        var s = NsdSubject.Open(Root, subj);
        Assert.Equal(e.GetProperty("train_samples").GetInt32(), s.TrainSamples);
        Assert.Equal(e.GetProperty("test_samples").GetInt32(), s.TestSamples);
        Assert.Equal(e.GetProperty("voxels_detail").GetInt32(), s.Split.Detail.Length);
        Assert.Equal(e.GetProperty("voxels_semantic").GetInt32(), s.Split.Semantic.Length);
        Assert.Equal(e.GetProperty("voxels_low").GetInt32(), s.Split.Low.Length);
        Assert.Equal(e.GetProperty("image_shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(), s.ImageShape);
        Assert.Equal(e.GetProperty("beta_divisor").GetDouble(), s.BetaScale.Divisor);
        var rois = e.GetProperty("rois").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(rois, s.Split.RoiCounts.ToDictionary());
        Assert.Equal(rois.Keys, s.Split.RoiCounts.Keys); // docs/data.md order
    }

    [Theory]
    [InlineData(1, "train", VoxelStream.Detail)]
    [InlineData(1, "test", VoxelStream.Semantic)]
    [InlineData(1, "train", VoxelStream.Low)]
    [InlineData(2, "test", VoxelStream.Detail)]
    [InlineData(2, "train", VoxelStream.Semantic)]
    [InlineData(3, "test", VoxelStream.Low)]
    public void StreamsMatchNumpyMaskIndexing(int subj, string split, VoxelStream stream)
    {
        var s = NsdSubject.Open(Root, subj);
        using var x = s.LoadStream(split, stream);
        var want = Npy.Read(Expected($"subj0{subj}_{split}_{stream.ToString().ToLowerInvariant()}.npy"));
        Assert.Equal(want.Shape, x.shape);
        // Same float64 → /divisor → float32 path as numpy: exact.
        Assert.Equal(want.ToFloat32(), x.data<float>().ToArray());
    }

    [Theory]
    [InlineData(1, "test", "semantic")]
    [InlineData(1, "train", "detail")]
    [InlineData(2, "test", "low")]
    [InlineData(3, "test", "detail")]
    public void ExportCommandWritesTheExpectedMatrices(int subj, string split, string stream)
    {
        using var dir = new TempDir();
        foreach (var z in new[] { false, true })
        {
            string outPath = Path.Combine(dir.Path, $"{split}_{stream}_{z}.npy");
            var args = new List<string>
                { "data", "export", "--data", Root, "--subject", subj.ToString(), "--split", split, "--stream", stream,
                "--out", outPath };
            if (z) args.Add("--zscore");
            var (code, _, err) = CliRunner.Run([.. args]);
            Assert.True(code == 0, err);
            var got = Npy.Read(outPath);
            var want = Npy.Read(Expected($"subj0{subj}_{split}_{stream}{(z ? "_z" : "")}.npy"));
            Assert.Equal(NpyDType.Float32, got.DType);
            Assert.Equal(want.Shape, got.Shape);
            AssertClose(want.ToFloat32(), got.ToFloat32(), z ? 2e-5 : 0, $"subj{subj} {split} {stream} z={z}");
        }
    }

    [Fact]
    public void InfoCommandPrintsOneJsonObject()
    {
        var (code, stdout, err) = CliRunner.Run("data", "info", "--data", Root, "--subject", "2");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        var e = Info(2);
        foreach (var k in new[]
            { "subject", "train_samples", "test_samples", "voxels_detail", "voxels_semantic", "voxels_low" })
            Assert.Equal(e.GetProperty(k).GetInt32(), j.GetProperty(k).GetInt32());
        Assert.Equal("[8,10,3]", j.GetProperty("image_shape").GetRawText().Replace(" ", "").Replace("\n", "")
            .Replace("\r", ""));
        Assert.Equal(1.0, j.GetProperty("beta_scale").GetProperty("divisor").GetDouble());
        Assert.Equal(e.GetProperty("rois").GetProperty("FFA-2").GetInt32(), j.GetProperty("rois").GetProperty("FFA-2")
            .GetInt32());
    }

    [Fact]
    public void BetaScaleOptionOverridesAuto()
    {
        var none = NsdSubject.Open(Root, 1, "none");
        Assert.Equal(1.0, none.BetaScale.Divisor);
        var manual = NsdSubject.Open(Root, 1, "150");
        Assert.Equal(150.0, manual.BetaScale.Divisor);
        using var a = none.LoadStream("test", VoxelStream.Low);
        using var b = manual.LoadStream("test", VoxelStream.Low);
        Assert.True(a.div(150).allclose(b, 1e-6, 1e-7));
        Assert.Throws<UserInputException>(() => NsdSubject.Open(Root, 1, "-3"));
        var (code, _, err) = CliRunner.Run("data", "info", "--data", Root, "--beta-scale", "banana");
        Assert.Equal(2, code);
        Assert.Contains("--beta-scale", err);
    }

    [Fact]
    public void ZScoreUsesTrainStatisticsAndRoundTrips()
    {
        var s = NsdSubject.Open(Root, 1);
        using var train = s.LoadStream("train", VoxelStream.Semantic);
        using var test = s.LoadStream("test", VoxelStream.Semantic);
        using var zs = ZScore.Fit(train);
        using var zt = zs.Apply(train);
        // Train columns: mean 0, std (ddof=1) 1.
        Assert.True(zt.mean([0]).abs().max().item<float>() < 1e-5);
        Assert.True((zt.std(0, unbiased: true) - 1).abs().max().item<float>() < 1e-4);
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "stats.safetensors");
        zs.Save(p, "semantic");
        using (var other = ZScore.Fit(s.LoadStream("train", VoxelStream.Low))) other.Save(p, "low");
        using var back = ZScore.Load(p, "semantic");
        Assert.Equal(zs.Mean.data<float>().ToArray(), back.Mean.data<float>().ToArray());
        Assert.Equal(zs.Std.data<float>().ToArray(), back.Std.data<float>().ToArray());
        using var low = ZScore.Load(p, "low");
        Assert.Equal(s.Split.Low.Length, low.Voxels);
        var want = Npy.Read(Expected("subj01_test_semantic_z.npy")).ToFloat32();
        AssertClose(want, back.Apply(test).data<float>().ToArray(), 2e-5, "test z");
        Assert.Throws<UserInputException>(() => ZScore.Load(p, "detail"));
    }

    [Fact]
    public void ConstantVoxelGetsStdOne()
    {
        var x = tensor(new float[] { 1, 5, 1, 6, 1, 7 }).reshape(3, 2);
        using var z = ZScore.Fit(x);
        Assert.Equal(new[] { 1f, 1f }, z.Std.data<float>().ToArray());
        Assert.Equal(new[] { 0f, -1f, 0f, 0f, 0f, 1f }, z.Apply(x).data<float>().ToArray());
    }

    [Fact]
    public void SplitIndicesFollowCOrderOfTheMask()
    {
        var s = NsdSubject.Open(Root, 1);
        var general = Nifti.Read(s.RoiPath(NsdRois.NsdGeneral));
        var c = s.Split.Coordinates;
        // Coordinates must be strictly increasing in C order (z fastest) and all inside nsdgeneral.
        for (int i = 0; i < c.Length; i++)
        {
            Assert.True(general[c[i][0], c[i][1], c[i][2]] > 0);
            if (i > 0) Assert.True(
                general.Index(c[i - 1][0], c[i - 1][1], c[i - 1][2]) < general.Index(c[i][0], c[i][1], c[i][2]));
        }
        Assert.Equal(s.Split.RoiCounts["FFA-2"], s.Split.RoiIndices("FFA-2").Length);
    }
}
