using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Simulation;
using BrainMClip.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Simulation;

/// <summary>`brainmclip synth --world linear` end to end: layout, counts, determinism, ground truth, decodable
/// content.</summary>
[Collection("Console")]
public class SynthTests : IClassFixture<SynthTests.Seed7>
{
    /// <summary>One synthetic subject (seed 7, 200/50) shared by the tests of this class.</summary>
    public sealed class Seed7 : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Root => Path.Combine(Dir.Path, "D");
        public (int Code, string Out, string Err) Result { get; }
        public Seed7() =>
            Result = CliRunner.Run("synth", "--world", "linear", "--out", Root, "--seed", "7", "--train", "200",
            "--test", "50");
        public void Dispose() => Dir.Dispose();
    }

    readonly Seed7 _d;
    public SynthTests(Seed7 d) => _d = d;

    [Fact]
    public void InfoReportsTheRequestedCounts()
    {
        Assert.True(_d.Result.Code == 0, _d.Result.Err);
        var (code, stdout, err) = CliRunner.Run("data", "info", "--data", _d.Root);
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(1, j.GetProperty("subject").GetInt32());
        Assert.Equal(200, j.GetProperty("train_samples").GetInt32());
        Assert.Equal(50, j.GetProperty("test_samples").GetInt32());
        int nd = j.GetProperty("voxels_detail").GetInt32(), ns = j.GetProperty("voxels_semantic").GetInt32(),
            nl = j.GetProperty("voxels_low").GetInt32();
        Assert.True(ns < nd && nl < nd && ns > 0 && nl > 0, $"detail {nd}, semantic {ns}, low {nl}");
        Assert.Equal("[64,64,3]", j.GetProperty("image_shape").GetRawText().Replace(" ", "").Replace("\n", "")
            .Replace("\r", ""));
        // ROI counts inside nsdgeneral add up to the stream sizes (the synthetic labels do not overlap).
        var rois = j.GetProperty("rois").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(nl, NsdRois.Labels[NsdRois.PrfVisualRois].Sum(n => rois[n]));
        Assert.Equal(ns, NsdRois.FlocMasks.SelectMany(m => NsdRois.Labels[m]).Sum(n => rois[n]));
        // The synth report agrees with data info.
        var s = JsonDocument.Parse(_d.Result.Out).RootElement;
        Assert.Equal(nd, s.GetProperty("voxels_detail").GetInt32());
    }

    [Fact]
    public void SameSeedGivesIdenticalFilesAndOtherSeedDiffers()
    {
        using var dir = new TempDir();
        string again = Path.Combine(dir.Path, "again"), other = Path.Combine(dir.Path, "other");
        Assert.Equal(0,
            CliRunner.Run("synth", "--world", "linear", "--out", again, "--seed", "7", "--train", "200", "--test",
            "50").Code);
        Assert.Equal(0,
            CliRunner.Run("synth", "--world", "linear", "--out", other, "--seed", "8", "--train", "200", "--test",
            "50").Code);
        var files = Directory.GetFiles(_d.Root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_d.Root, f)).Order().ToArray();
        Assert.Equal(files, Directory.GetFiles(again, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(again, f)).Order().ToArray());
        Assert.Equal(18, files.Length); // 4 npy + 6 ROI masks + 8 ground-truth files
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(_d.Root, f)).AsSpan()
                .SequenceEqual(File.ReadAllBytes(Path.Combine(again, f))), f);
        string fmri = NsdSubject.FmriPathOf(_d.Root, 1, "train");
        Assert.False(File.ReadAllBytes(fmri).AsSpan()
            .SequenceEqual(File.ReadAllBytes(NsdSubject.FmriPathOf(other, 1, "train"))));
    }

    [Fact]
    public void RefusesNonEmptyOutWithoutForce()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "keep.txt"), "x");
        var (code, _, err) = CliRunner.Run("synth", "--out", dir.Path, "--train", "10", "--test", "5");
        Assert.Equal(2, code);
        Assert.Contains(dir.Path, err);
        Assert.Contains("--force", err);
        var (code2, _, err2) = CliRunner.Run("synth", "--out", dir.Path, "--train", "10", "--test", "5", "--image-size",
            "16", "--force");
        Assert.True(code2 == 0, err2);
        Assert.True(File.Exists(Path.Combine(dir.Path, "keep.txt")));
        Assert.Equal(10, NsdSubject.Open(dir.Path).TrainSamples);
    }

    [Fact]
    public void GroundTruthIsConsistentWithTheLayout()
    {
        var s = NsdSubject.Open(_d.Root);
        string gt = Path.Combine(_d.Root, "ground_truth");
        var j = JsonDocument.Parse(File.ReadAllText(Path.Combine(gt, "subj01.json"))).RootElement;
        Assert.Equal(7, j.GetProperty("seed").GetInt32());
        var labels = Npy.Read(Path.Combine(gt, "subj01_train_labels.npy"));
        Assert.Equal(new long[] { 200, 8 }, labels.Shape);
        var scenes = j.GetProperty("scenes").GetProperty("train");
        Assert.Equal(200, scenes.GetArrayLength());
        // Label counts equal the objects listed for each scene.
        var lab = labels.ToFloat32();
        for (int i = 0; i < 200; i++)
        {
            var objs = scenes[i].GetProperty("objects");
            Assert.InRange(objs.GetArrayLength(), 1, 3);
            Assert.Equal(objs.GetArrayLength(), (int)lab.Skip(i * 8).Take(8).Sum());
            foreach (var o in objs.EnumerateArray()) Assert.True(
                lab[i * 8 + o.GetProperty("category").GetInt32()] >= 1);
        }
        // Voxel kinds follow the ROI masks: prf voxels are exactly the low stream, floc voxels the semantic stream.
        var kind = Npy.Read(Path.Combine(gt, "subj01_voxel_kind.npy")).Data;
        Assert.Equal(s.Voxels, kind.Length);
        Assert.Equal(s.Split.Low, Enumerable.Range(0, kind.Length).Where(i => kind[i] == 0).ToArray());
        Assert.Equal(s.Split.Semantic, Enumerable.Range(0, kind.Length).Where(i => kind[i] == 1).ToArray());
        var rf = Npy.Read(Path.Combine(gt, "subj01_voxel_rf.npy")).ToFloat32();
        Assert.All(rf, v => Assert.InRange(v, 0f, 1f));
        // Stimuli are uint8 images that are not blank.
        var stim = s.LoadStimuli("test");
        Assert.Equal(NpyDType.UInt8, stim.DType);
        Assert.Equal(new long[] { 50, 64, 64, 3 }, stim.Shape);
        Assert.True(stim.Data.Distinct().Count() > 100);
    }

    /// <summary>Ridge regression from z-scored voxels to targets; returns test predictions.</summary>
    internal static Tensor Ridge(Tensor xtr, Tensor ytr, Tensor xte, double lambda)
    {
        using var z = ZScore.Fit(xtr);
        var a = z.Apply(xtr).to_type(ScalarType.Float64);
        var b = z.Apply(xte).to_type(ScalarType.Float64);
        var y = ytr.to_type(ScalarType.Float64);
        var ym = y.mean([0], keepdim: true);
        var gram = einsum("nv,nw->vw", a, a) + lambda * eye(a.shape[1], dtype: ScalarType.Float64);
        var w = linalg.solve(gram, einsum("nv,nk->vk", a, y - ym));
        return einsum("nv,vk->nk", b, w) + ym;
    }

    [Fact]
    public void CategoriesAreLinearlyDecodableFromSemanticVoxels()
    {
        using var scope = NewDisposeScope();
        var s = NsdSubject.Open(_d.Root);
        string gt = Path.Combine(_d.Root, "ground_truth");
        var ytr = tensor(Npy.Read(Path.Combine(gt, "subj01_train_labels.npy")).ToFloat32(), new long[] { 200, 8 });
        var yte = tensor(Npy.Read(Path.Combine(gt, "subj01_test_labels.npy")).ToFloat32(), new long[] { 50, 8 });
        var p = Ridge(s.LoadStream("train", VoxelStream.Semantic), ytr, s.LoadStream("test", VoxelStream.Semantic),
            100);
        double acc = p.gt(0.5).eq(yte.gt(0)).to_type(ScalarType.Float64).mean().item<double>();
        Assert.True(acc > 0.9, $"category presence accuracy from semantic voxels {acc:F3}");
    }

    [Fact]
    public void ImageContentIsLinearlyDecodableFromLowLevelVoxels()
    {
        using var scope = NewDisposeScope();
        var s = NsdSubject.Open(_d.Root);
        // Targets: images pooled to 8×8×3.
        Tensor Pooled(string split)
        {
            var st = s.LoadStimuli(split);
            var t = tensor(st.ToFloat32(), st.Shape).div(255).permute(0, 3, 1, 2);
            return nn.functional.avg_pool2d(t, 8).reshape(st.Shape[0], -1);
        }
        var ytr = Pooled("train");
        var yte = Pooled("test");
        var p = Ridge(s.LoadStream("train", VoxelStream.Low), ytr, s.LoadStream("test", VoxelStream.Low), 300);
        // Mean per-image Pearson correlation between predicted and true pooled images.
        var pc = (p - p.mean([1], keepdim: true)) / p.std(1, keepdim: true);
        var yc = (yte - yte.mean([1], keepdim: true)) / yte.std(1, keepdim: true);
        double r = (pc * yc).sum(1).div(yte.shape[1] - 1).mean().item<double>();
        Assert.True(r > 0.5, $"pixel correlation from low-level voxels {r:F3}");
    }
}
