using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Simulation;
using BrainMClip.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Simulation;

/// <summary>
/// `brainmclip synth --world hierarchical` (the default): layout, determinism, ground truth, the premise (category
/// labels from floc voxels, local contrast from prf voxels) and the noise ceiling.
/// </summary>
[Collection("Console")]
public class HierarchicalSynthTests : IClassFixture<HierarchicalSynthTests.Subject>
{
    const int Train = 400, Test = 100;

    /// <summary>One hierarchical subject (seed 4, 400/100 images of 32 px) shared by the tests of this class.</summary>
    public sealed class Subject : IDisposable
    {
        public TempDir Dir { get; } = new();
        public string Root => Path.Combine(Dir.Path, "H");
        public (int Code, string Out, string Err) Result { get; }
        public Subject() => Result = CliRunner.Run("synth", "--out", Root, "--seed", "4", "--train", $"{Train}",
            "--test", $"{Test}", "--image-size", "32");
        public void Dispose() => Dir.Dispose();
    }

    readonly Subject _d;
    public HierarchicalSynthTests(Subject d) => _d = d;
    string Gt(string name) => Path.Combine(_d.Root, "ground_truth", $"subj01_{name}.npy");

    [Fact]
    public void LayoutIsReadableAndGroundTruthMatchesTheScenes()
    {
        Assert.True(_d.Result.Code == 0, _d.Result.Err);
        Assert.Equal("hierarchical", JsonDocument.Parse(_d.Result.Out).RootElement.GetProperty("world").GetString());
        var (code, stdout, err) = CliRunner.Run("data", "info", "--data", _d.Root);
        Assert.True(code == 0, err);
        Assert.Equal(Train, JsonDocument.Parse(stdout).RootElement.GetProperty("train_samples").GetInt32());
        var s = NsdSubject.Open(_d.Root);
        Assert.Equal(new long[] { Test, 32, 32, 3 }, s.LoadStimuli("test").Shape);
        // Voxel kinds follow the ROI masks: prf voxels are the low stream, floc voxels the semantic stream.
        var kind = Npy.Read(Gt("voxel_kind")).Data;
        Assert.Equal(s.Voxels, kind.Length);
        Assert.Equal(s.Split.Low, Enumerable.Range(0, kind.Length).Where(i => kind[i] == 0).ToArray());
        Assert.Equal(s.Split.Semantic, Enumerable.Range(0, kind.Length).Where(i => kind[i] == 1).ToArray());
        // Labels, captions and images are those of the world's scenes (seed, base + i).
        var lab = Npy.Read(Gt("test_labels"));
        Assert.Equal(new long[] { Test, 4 }, lab.Shape);
        var caps = Npy.Read(Gt("test_captions")).ToFloat32();
        var stim = s.LoadStimuli("test").Data;
        for (int i = 0; i < Test; i += 17)
        {
            var scene = WorldSampler.Sample(4, SyntheticNsd.SynthSceneIndexBase + Train + i);
            Assert.Equal(scene.FamilyCounts().Select(c => (byte)c), lab.Data.Skip(i * 4).Take(4));
            Assert.Equal(scene.Caption(), caps.Skip(i * WorldScene.CaptionLength).Take(WorldScene.CaptionLength));
            Assert.Equal(WorldRenderer.Render(scene, 32), stim.Skip(i * 32 * 32 * 3).Take(32 * 32 * 3));
        }
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_d.Root, "ground_truth",
            "subj01.json"))).RootElement;
        Assert.Equal(Train, json.GetProperty("scenes").GetProperty("train").GetArrayLength());
        Assert.Equal(new long[] { Test, s.Voxels }, Npy.Read(Gt("test_signal")).Shape);
        Assert.Equal(new long[] { Test, 64 }, Npy.Read(Gt("test_contrast")).Shape);
    }

    [Fact]
    public void SameSeedGivesIdenticalFilesAndOtherSeedDiffers()
    {
        using var dir = new TempDir();
        string again = Path.Combine(dir.Path, "again"), other = Path.Combine(dir.Path, "other");
        string[] Args(string o, string seed) =>
            ["synth", "--out", o, "--seed", seed, "--train", $"{Train}", "--test", $"{Test}", "--image-size", "32"];
        Assert.Equal(0, CliRunner.Run(Args(again, "4")).Code);
        Assert.Equal(0, CliRunner.Run(Args(other, "5")).Code);
        var files = Directory.GetFiles(_d.Root, "*", SearchOption.AllDirectories).Select(f =>
            Path.GetRelativePath(_d.Root, f)).Order().ToArray();
        Assert.Equal(files, Directory.GetFiles(again, "*", SearchOption.AllDirectories).Select(f =>
            Path.GetRelativePath(again, f)).Order().ToArray());
        Assert.Equal(4 + 6 + 8 + 8, files.Length); // 4 npy + 6 ROI masks + 2×4 per-split + 7 per-voxel + json
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(_d.Root,
                f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(again, f))), f);
        string fmri = NsdSubject.FmriPathOf(_d.Root, 1, "train");
        Assert.False(File.ReadAllBytes(fmri).AsSpan().SequenceEqual(File.ReadAllBytes(NsdSubject.FmriPathOf(other, 1,
            "train"))));
    }

    [Fact]
    public void FlocBeatsPrfOnCategoriesAndPrfBeatsFlocOnLocalContrast()
    {
        using var scope = NewDisposeScope();
        var s = NsdSubject.Open(_d.Root);
        Tensor Load(string name, int rows)
        {
            var a = Npy.Read(Gt(name)); return tensor(a.ToFloat32(),
            a.Shape).reshape(rows, -1);
        }
        var labTr = Load("train_labels", Train).gt(0).to_type(ScalarType.Float32);
        var labTe = Load("test_labels", Test).gt(0);
        var conTr = Load("train_contrast", Train);
        var conTe = Load("test_contrast", Test);
        double Accuracy(VoxelStream st)
        {
            var p = SynthTests.Ridge(s.LoadStream("train", st), labTr, s.LoadStream("test", st), 100);
            return p.gt(0.5).eq(labTe).to_type(ScalarType.Float64).mean().item<double>();
        }
        double ContrastR(VoxelStream st)
        {
            var p = SynthTests.Ridge(s.LoadStream("train", st), conTr, s.LoadStream("test", st), 300);
            var pc = p - p.mean([0], keepdim: true);
            var yc = conTe - conTe.mean([0], keepdim: true);
            var r = (pc * yc).sum([0]) / (pc.square().sum([0]) * yc.square().sum([0])).sqrt();
            return r.mean().to_type(ScalarType.Float64).item<double>();
        }
        double accFloc = Accuracy(VoxelStream.Semantic), accPrf = Accuracy(VoxelStream.Low);
        double rFloc = ContrastR(VoxelStream.Semantic), rPrf = ContrastR(VoxelStream.Low);
        // Presence of each family: chance (always "absent") is about 0.56 here.
        Assert.True(accFloc > 0.9 && accFloc > accPrf + 0.2, $"category accuracy floc {accFloc:F3}, prf {accPrf:F3}");
        Assert.True(rPrf > 0.5 && rPrf > rFloc + 0.2, $"local contrast r prf {rPrf:F3}, floc {rFloc:F3}");
    }

    /// <summary>
    /// --prf-colour adds a signed colour read-out to the low-level drive: the mean colour of each image quadrant
    /// (computed here from the stimuli, in float64) becomes decodable from the prf voxels, which it is far less
    /// without it (edge energy only); --prf-colour 0 is the same world as before (the shared subject).
    /// </summary>
    [Fact]
    public void PrfColourMakesLocalMeanColourDecodableFromPrfVoxels()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        string coloured = Path.Combine(dir.Path, "C");
        var (code, _, err) = CliRunner.Run("synth", "--out", coloured, "--seed", "4", "--train", $"{Train}",
            "--test", $"{Test}", "--image-size", "32", "--prf-colour", "1");
        Assert.True(code == 0, err);
        Assert.Equal(1.0, JsonDocument.Parse(File.ReadAllText(Path.Combine(coloured, "ground_truth", "subj01.json")))
            .RootElement.GetProperty("prf_colour").GetDouble());
        double ColourR(string root)
        {
            var s = NsdSubject.Open(root);
            var p = SynthTests.Ridge(s.LoadStream("train", VoxelStream.Low), QuadrantColour(s, "train"),
                s.LoadStream("test", VoxelStream.Low), 300);
            var y = QuadrantColour(s, "test");
            var pc = p - p.mean([0], keepdim: true);
            var yc = y - y.mean([0], keepdim: true);
            return ((pc * yc).sum([0]) / (pc.square().sum([0]) * yc.square().sum([0])).sqrt()).mean().item<double>();
        }
        double plain = ColourR(_d.Root), withColour = ColourR(coloured);
        Assert.True(withColour > 0.5 && withColour > plain + 0.2,
            $"quadrant colour r from prf voxels: --prf-colour 1 {withColour:F3}, 0 {plain:F3}");
        // The scenes and images do not change, only the responses.
        Assert.Equal(File.ReadAllBytes(NsdSubject.Open(_d.Root).StimuliPath("test")),
            File.ReadAllBytes(NsdSubject.Open(coloured).StimuliPath("test")));
    }

    /// <summary>Mean luminance and opponent colours (R−G, B−(R+G)/2) per image quadrant, (N, 12), float64.</summary>
    static Tensor QuadrantColour(NsdSubject s, string split)
    {
        var st = s.LoadStimuli(split);
        int n = (int)st.Shape[0], side = (int)st.Shape[1];
        var x = tensor(st.Data.Select(b => b / 255.0).ToArray(), new long[] { n, side, side, 3 });
        var (r, g, b) = (x.select(3, 0), x.select(3, 1), x.select(3, 2));
        var ch = stack([0.299 * r + 0.587 * g + 0.114 * b, r - g, b - (r + g) / 2], 1);   // (N, 3, S, S)
        return nn.functional.adaptive_avg_pool2d(ch, [2, 2]).reshape(n, 12);
    }

    [Fact]
    public void NoiseCeilingFollowsTheNsdDefinitionAndMatchesTheTruth()
    {
        var nc = Npy.Read(Gt("noise_ceiling")).ToFloat32();
        var ncsnr = Npy.Read(Gt("ncsnr")).ToFloat32();
        var truth = Npy.Read(Gt("noise_ceiling_true")).ToFloat32();
        for (int v = 0; v < nc.Length; v++)
            Assert.Equal(100 * ncsnr[v] * ncsnr[v] / (ncsnr[v] * ncsnr[v] + 1.0 / 3), nc[v], 0.01);
        // Default SNR per repetition, 3 repetitions: the true ceiling is 100 / (1 + noise/3) around its mean.
        double snr = SyntheticNsd.HierarchicalDefaultSnr, expect = 100 / (1 + 1 / (3 * snr));
        Assert.InRange(truth.Average(x => (double)x), expect - 1, expect + 1);
        Assert.InRange(nc.Average(x => (double)x) - truth.Average(x => (double)x), -4, 4);
        // What the ceiling means: the share of the averaged response's variance that is signal.
        var s = NsdSubject.Open(_d.Root);
        var fmri = s.LoadFmri("train");
        var sig = Npy.Read(Gt("train_signal"));
        using var scope = NewDisposeScope();
        var x = fmri - fmri.mean([0], keepdim: true);
        var y = tensor(sig.ToFloat32(), sig.Shape);
        y = y - y.mean([0], keepdim: true);
        var r = (x * y).sum([0]) / (x.square().sum([0]) * y.square().sum([0])).sqrt();
        double r2 = (r * r).mean().item<float>() * 100;
        Assert.InRange(r2, truth.Average(t => (double)t) - 4, truth.Average(t => (double)t) + 4);
    }

    [Fact]
    public void GroundTruthCommandDecodesCategoriesFromFlocAndContrastFromPrf()
    {
        using var dir = new TempDir();
        // Semantic targets that are a fixed linear function of the captions (2 tokens × 6): the captions must retrieve
        // them almost perfectly, the family flags alone far less well.
        var caps = new Dictionary<string, float[]>();
        foreach (var (split, rows) in new[] { ("train", Train), ("test", Test) })
        {
            caps[split] = Npy.Read(Gt($"{split}_captions")).ToFloat32();
            var c = tensor(caps[split], new long[] { rows, WorldScene.CaptionLength });
            var sem = c.mm(randn(WorldScene.CaptionLength, 12, generator: new Generator(3))).reshape(rows, 2, 6);
            SafeTensors.Save(Path.Combine(dir.Path, $"{split}.safetensors"),
                new Dictionary<string, Tensor> { ["detail"] = zeros(rows, 2, 3), ["semantic"] = sem });
        }
        var (code, stdout, err) = CliRunner.Run("data", "ground-truth", "--data", _d.Root,
            "--features-train", Path.Combine(dir.Path, "train.safetensors"), "--features-test",
                Path.Combine(dir.Path, "test.safetensors"), "--noise-free");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        var st = j.GetProperty("streams");
        double Get(string s, string k) => st.GetProperty(s).GetProperty(k).GetDouble();
        double chance = j.GetProperty("chance").GetProperty("label_accuracy").GetDouble();
        Assert.InRange(chance, 0.5, 0.65);
        Assert.True(Get("semantic", "label_accuracy") > 0.9 && Get("low", "label_accuracy") < chance + 0.15,
            $"label accuracy floc {Get("semantic", "label_accuracy")}, prf {Get("low", "label_accuracy")}, " +
            $"chance {chance}");
        Assert.True(Get("low", "contrast_r") > Get("semantic", "contrast_r") + 0.2);
        Assert.True(Get("semantic", "attribute_r") > Get("low", "attribute_r") + 0.3);
        Assert.InRange(Get("semantic", "noise_ceiling_mean"), 20, 60);
        // Without noise the same decoders do better: the noise keeps ridge well below its ceiling.
        double free = st.GetProperty("semantic").GetProperty("noise_free").GetProperty("attribute_r").GetDouble();
        double noisy = Get("semantic", "attribute_r");
        Assert.True(free > noisy + 0.03, $"attribute r noise-free {free}, noisy {noisy}");
        // RSA of the ground truth itself: local contrast with the prf voxels, captions with the floc voxels.
        var rsa = j.GetProperty("rsa_ground_truth");
        double Rsa(string truth, string group) => rsa.GetProperty(truth).GetProperty(group).GetDouble();
        Assert.True(Rsa("contrast", "low-level") > 0.3 && Rsa("contrast", "semantic") < 0.1);
        Assert.True(Rsa("captions", "semantic") > 0.3 && Rsa("captions", "low-level") < 0.1);
        var fromTruth = j.GetProperty("semantic_target_from_ground_truth");
        double fromCaps = fromTruth.GetProperty("captions").GetProperty("image_to_brain_top1").GetDouble();
        double fromLabels = fromTruth.GetProperty("labels").GetProperty("image_to_brain_top1").GetDouble();
        Assert.True(fromCaps > 0.9 && fromLabels < 0.5,
            $"retrieval from captions {fromCaps}, from labels {fromLabels}");
    }

    [Fact]
    public void LinearOnlyOptionsAreRejected()
    {
        using var dir = new TempDir();
        void Rejected(string folder, string message, params string[] options)
        {
            var (code, _, err) = CliRunner.Run(["synth", "--out", Path.Combine(dir.Path, folder), .. options,
                "--train", "10", "--test", "5"]);
            Assert.Equal(2, code);
            Assert.Contains(message, err);
            Assert.False(Directory.Exists(Path.Combine(dir.Path, folder, "ground_truth")));
        }
        Rejected("a", "--world linear", "--categories", "4");
        Rejected("b", "--repetitions", "--repetitions", "1");
        Rejected("c", "--world hierarchical", "--world", "linear", "--prf-colour", "1");
        Rejected("d", "--prf-colour", "--prf-colour", "-0.5");
    }

    [Theory]
    [InlineData("--lowres", "1.5", "expected a fraction")]
    [InlineData("--lowres-sides", "40-16", "2 <= min <= max")]
    [InlineData("--lowres-sides", "16", "expected min-max")]
    public void ClipTrainRejectsBadLowResolutionSettings(string option, string value, string message)
    {
        using var dir = new TempDir();
        string outDir = Path.Combine(dir.Path, "enc");
        var (code, _, err) = CliRunner.Run("clip-train", "--out", outDir, option, value, "--images", "32",
            "--epochs", "1");
        Assert.Equal(2, code);
        Assert.Contains(option, err);
        Assert.Contains(message, err);
        Assert.False(File.Exists(Path.Combine(outDir, "model.safetensors")));
    }
}
