using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Parity;
using PureHDF;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Features;

/// <summary>`features` / `merge-features` on a tiny random checkpoint: layout, metadata, sources, shards,
/// resume.</summary>
public class FeatureExtractionTests
{
    static readonly ClipVisionConfig Tiny = new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumAttentionHeads = 2,
        NumHiddenLayers = 4,
        ImageSize = 16,
        PatchSize = 8,
        ProjectionDim = 8,
    };

    /// <summary>A checkpoint and an 11-image stimulus .npy (N,H,W,3 uint8, 20x24 so resize and crop are
    /// exercised).</summary>
    static (string Ckpt, string Npy) Setup(TempDir dir, int n = 11)
    {
        string ckpt = Path.Combine(dir.Path, "clip");
        ClipCheckpointFactory.CreateRandom(ckpt, Tiny, 1);
        var rng = new Random(5);
        var px = new byte[n * 20 * 24 * 3];
        rng.NextBytes(px);
        string npy = Path.Combine(dir.Path, "stim.npy");
        Npy.WriteUInt8(npy, [n, 20, 24, 3], px);
        return (ckpt, npy);
    }

    static FeatureExtractionOptions Opts(string ckpt, string input, string output) => new()
    {
        Checkpoint = ckpt,
        Input = input,
        Output = output,
        Batch = 3,
        Progress = false,
    };

    [Fact]
    public void FileLayoutMetadataAndValuesMatchTheModel()
    {
        using var dir = new TempDir();
        var (ckpt, npy) = Setup(dir);
        string outPath = Path.Combine(dir.Path, "f.safetensors");
        var r = FeatureExtractor.Run(Opts(ckpt, npy, outPath) with { HiddenStates = "0,4", DetailLayers = "1-3" });
        Assert.Equal((11L, 4, 0), (r.Samples, r.BatchesComputed, r.BatchesReused));
        var t = SafeTensors.Load(outPath, out var meta);
        Assert.Equal(new[] { "detail", "hidden_states.0", "hidden_states.4", "image_embeds", "semantic" },
            t.Keys.Order().ToArray());
        Assert.Equal(new long[] { 11, 5, 32 }, t["detail"].shape);
        Assert.Equal(new long[] { 11, 5, 8 }, t["semantic"].shape);
        Assert.Equal(new long[] { 11, 8 }, t["image_embeds"].shape);
        Assert.Equal("1-3", meta["detail_layers"]);
        Assert.Equal("11", meta["samples"]);
        Assert.Equal("0/1", meta["shard"]);
        Assert.Equal(Path.GetFullPath(ckpt), meta["checkpoint"]);
        Assert.Equal($"npy:{Path.GetFullPath(npy)}", meta["source"]);
        Assert.False(Directory.Exists(outPath + ".partial"));

        // Row 7 recomputed by hand: Npy row → processor → model.
        using var model = ClipVisionModel.FromPretrained(ckpt);
        var proc = ClipImageProcessor.FromFolder(ckpt);
        var row = Npy.ReadRows(npy, 7, 1);
        var px = proc.Preprocess(new RgbImage(24, 20, row.Data)).unsqueeze(0);
        using var o = model.Run(px, new ClipRunOptions { DetailLayers = (1, 3), HiddenStates = [4] });
        Assert.True(ClipGoldenTests.MaxAbs(t["detail"][7..8], o.DetailMean!) < 1e-6);
        Assert.True(ClipGoldenTests.MaxAbs(t["semantic"][7..8], o.VdTokens) < 1e-6);
        Assert.True(ClipGoldenTests.MaxAbs(t["image_embeds"][7..8], o.ImageEmbeds) < 1e-6);
        Assert.True(ClipGoldenTests.MaxAbs(t["hidden_states.4"][7..8], o.LastHiddenState) < 1e-6);
    }

    [Fact]
    public void ShardsMergedAreByteIdenticalToOneRun()
    {
        using var dir = new TempDir();
        var (ckpt, npy) = Setup(dir);
        string full = Path.Combine(dir.Path, "full.safetensors"), merged = Path.Combine(dir.Path, "merged.safetensors");
        FeatureExtractor.Run(Opts(ckpt, npy, full));
        var shards = new List<string>();
        for (int i = 2; i >= 0; i--) // order of the arguments must not matter
        {
            string s = Path.Combine(dir.Path, $"s{i}.safetensors");
            var r = FeatureExtractor.Run(Opts(ckpt, npy, s) with { ShardIndex = i, ShardCount = 3 });
            Assert.Equal(i * 3, r.RowOffset); // 4 batches of 3 over 3 shards: batches {0}, {1}, {2,3}
            shards.Add(s);
        }
        Assert.Equal(0, BrainMClip.Cli.Program.Main(["merge-features", "--out", merged, .. shards]));
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(merged));

        // A missing shard or a shard of another run is refused.
        var e = Assert.Throws<UserInputException>(() => FeatureFile.Merge(merged, [shards[0], shards[2]]));
        Assert.Contains("missing", e.Message);
        string other = Path.Combine(dir.Path, "other.safetensors");
        FeatureExtractor.Run(Opts(ckpt, npy, other) with { ShardIndex = 1, ShardCount = 3, DetailLayers = "2-2" });
        e = Assert.Throws<UserInputException>(() => FeatureFile.Merge(merged, [shards[0], other, shards[2]]));
        Assert.Contains("detail_layers", e.Message);
    }

    [Fact]
    public void ResumeAfterInterruptionGivesTheSameFile()
    {
        using var dir = new TempDir();
        var (ckpt, npy) = Setup(dir);
        string full = Path.Combine(dir.Path, "full.safetensors"),
            resumed = Path.Combine(dir.Path, "resumed.safetensors");
        FeatureExtractor.Run(Opts(ckpt, npy, full) with { OutputDType = ScalarType.Float16 });
        using var cts = new CancellationTokenSource();
        int saved = 0;
        Assert.Throws<OperationCanceledException>(() => FeatureExtractor.Run(Opts(ckpt, npy, resumed) with
        {
            OutputDType = ScalarType.Float16,
            Cancellation = cts.Token,
            BatchSaved = (_, _) => { if (++saved == 2) cts.Cancel(); }, // "killed" after two batches
        }));
        Assert.False(File.Exists(resumed));
        Assert.Equal(2, Directory.GetFiles(resumed + ".partial", "batch-*").Length);
        // Other settings must not reuse those batches.
        Assert.Throws<UserInputException>(() => FeatureExtractor.Run(Opts(ckpt, npy, resumed) with { Resume = true }));
        var r = FeatureExtractor.Run(Opts(ckpt, npy, resumed) with { OutputDType = ScalarType.Float16, Resume = true });
        Assert.Equal((2, 2), (r.BatchesComputed, r.BatchesReused));
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(resumed));
        Assert.Equal(ScalarType.Float16, SafeTensors.LoadTensor(resumed, "detail").dtype);
    }

    /// <summary>A kill between creating OUT.partial and writing its job.json (seen under load in the kill/resume
    /// test) leaves an empty folder: --resume starts afresh instead of refusing.</summary>
    [Fact]
    public void ResumeOverAPartialFolderWithoutJobFileStartsAfresh()
    {
        using var dir = new TempDir();
        var (ckpt, npy) = Setup(dir);
        string full = Path.Combine(dir.Path, "full.safetensors"),
            resumed = Path.Combine(dir.Path, "resumed.safetensors");
        FeatureExtractor.Run(Opts(ckpt, npy, full));
        Directory.CreateDirectory(resumed + ".partial");
        var r = FeatureExtractor.Run(Opts(ckpt, npy, resumed) with { Resume = true });
        Assert.Equal(0, r.BatchesReused);
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(resumed));
    }

    [Fact]
    public void FolderHdf5AndPixelValueSourcesAgree()
    {
        using var dir = new TempDir();
        var (ckpt, npy) = Setup(dir, n: 4);
        var arr = Npy.Read(npy);
        // Folder: names sorted by number (img2 before img10).
        string folder = Path.Combine(dir.Path, "imgs");
        Directory.CreateDirectory(folder);
        string[] names = ["img1.png", "img2.png", "img10.png", "img11.png"];
        int per = 20 * 24 * 3;
        for (int i = 0; i < 4; i++) ImageIO.WritePng(Path.Combine(folder, names[i]),
            new RgbImage(24, 20, arr.Data.AsSpan(i * per, per).ToArray()));
        Assert.Equal(names, ImageSources.SortImageFiles(names.Reverse()).ToArray());
        string fNpy = Path.Combine(dir.Path, "npy.safetensors"), fDir = Path.Combine(dir.Path, "dir.safetensors");
        FeatureExtractor.Run(Opts(ckpt, npy, fNpy));
        FeatureExtractor.Run(Opts(ckpt, folder, fDir));
        Assert.Equal(SafeTensors.Load(fNpy)["semantic"].data<float>().ToArray(),
            SafeTensors.Load(fDir)["semantic"].data<float>().ToArray());

        // HDF5 (N,3,H,W) float32 in [0,1] at the model's size: no resize, so equal to the byte path.
        var proc = ClipImageProcessor.FromFolder(ckpt);
        var square = new byte[4 * 16 * 16 * 3];
        new Random(9).NextBytes(square);
        var nchw = tensor(square, [4, 16, 16, 3]).permute(0, 3, 1,
            2).to_type(ScalarType.Float32).div(255f).contiguous();
        string h5 = Path.Combine(dir.Path, "images.hdf5");
        new H5File { ["imgs"] = new H5Dataset(nchw.data<float>().ToArray(), fileDims: [4, 3, 16, 16]) }.Write(h5);
        string fH5 = Path.Combine(dir.Path, "h5.safetensors"), fPx = Path.Combine(dir.Path, "px.safetensors");
        var r = FeatureExtractor.Run(Opts(ckpt, h5 + ":imgs", fH5));
        Assert.Equal(4, r.Samples);
        var byBytes = proc.Preprocess(Enumerable.Range(0, 4)
            .Select(i => new RgbImage(16, 16, square.AsSpan(i * 768, 768).ToArray())).ToList());
        SafeTensors.Save(Path.Combine(dir.Path, "pv.safetensors"),
            new Dictionary<string, Tensor> { ["pixel_values"] = byBytes });
        FeatureExtractor.Run(Opts(ckpt, Path.Combine(dir.Path, "pv.safetensors"), fPx));
        Assert.True(
            ClipGoldenTests.MaxAbs(SafeTensors.Load(fH5)["image_embeds"],
            SafeTensors.Load(fPx)["image_embeds"]) < 1e-5);

        // float16 storage (MindEye's coco_images_224_float16.hdf5), read through --dataset.
        string h5half = Path.Combine(dir.Path, "half.hdf5");
        new H5File
        {
            ["images"] = new H5Dataset(nchw.data<float>().ToArray().Select(v => (Half)v).ToArray(),
            fileDims: [4, 3, 16, 16])
        }.Write(h5half);
        string fHalf = Path.Combine(dir.Path, "half.safetensors");
        FeatureExtractor.Run(Opts(ckpt, h5half, fHalf) with { Dataset = "images" });
        Assert.True(
            ClipGoldenTests.MaxAbs(SafeTensors.Load(fHalf)["image_embeds"],
            SafeTensors.Load(fPx)["image_embeds"]) < 1e-2);

        var e = Assert.Throws<UserInputException>(() => FeatureExtractor.Run(Opts(ckpt, h5, fH5)));
        Assert.Contains("'images' not found", e.Message);
    }

    [Fact]
    public void ParityCommandWritesGoldenNames()
    {
        using var dir = new TempDir();
        string g = TestPaths.Golden("clip-vit-tiny");
        string outPath = Path.Combine(dir.Path, "out.safetensors");
        Assert.Equal(0, BrainMClip.Cli.Program.Main(["parity", "--component", "clip-vision", "--model", g,
            "--inputs", Path.Combine(g, "golden.safetensors"), "--out", outPath, "--detail-layers", "2-4"]));
        var o = SafeTensors.Load(outPath);
        var golden = SafeTensors.Load(Path.Combine(g, "golden.safetensors"));
        foreach (var k in golden.Keys.Where(k => !k.StartsWith("pixel_values")))
            Assert.True(ClipGoldenTests.MaxAbs(o[k], golden[k]) < 1e-5, k);
        Assert.Equal(2,
            BrainMClip.Cli.Program.Main(["parity", "--component", "nope", "--inputs", outPath, "--out", outPath]));
        Assert.Contains(ParityRunner.Components, c => c.Name == "clip-vision");
    }
}

public class FeatureCliTests
{
    [Fact]
    public void ClipInitThenFeaturesWithAllHiddenStatesAndEmptyShards()
    {
        using var dir = new TempDir();
        string ckpt = Path.Combine(dir.Path, "clip");
        // A small custom config through the library (the CLI presets are larger); the CLI reads it back.
        ClipCheckpointFactory.CreateRandom(ckpt, new ClipVisionConfig
        {
            HiddenSize = 16,
            IntermediateSize = 32,
            NumAttentionHeads = 2,
            NumHiddenLayers = 3,
            ImageSize = 16,
            PatchSize = 8,
            ProjectionDim = 8,
        }, 0);
        var px = new byte[5 * 16 * 16 * 3];
        new Random(1).NextBytes(px);
        string npy = Path.Combine(dir.Path, "s.npy");
        Npy.WriteUInt8(npy, [5, 16, 16, 3], px);
        string full = Path.Combine(dir.Path, "full.safetensors");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(
            ["features", "--clip", ckpt, "--input", npy, "--out", full, "--batch", "2", "--hidden-states"]));
        var t = SafeTensors.Load(full, out var meta);
        Assert.Equal("0,1,2,3", meta["hidden_states"]);
        Assert.Equal("1-3", meta["detail_layers"]); // 11..20 of 24 scaled to 3 layers: round(1.375)..round(2.5)
        Assert.Equal(new long[] { 5, 5, 16 }, t["hidden_states.2"].shape);
        var mean = (t["hidden_states.1"] + t["hidden_states.2"] + t["hidden_states.3"]) / 3;
        Assert.True(ClipGoldenTests.MaxAbs(mean, t["detail"]) < 1e-5);

        // 3 batches over 5 shards: shards 0 and 2 are empty; the merge is still byte-identical.
        var shards = Enumerable.Range(0, 5).Select(i => Path.Combine(dir.Path, $"s{i}.safetensors")).ToList();
        for (int i = 0; i < 5; i++)
            Assert.Equal(0,
                BrainMClip.Cli.Program.Main(
                ["features", "--clip", ckpt, "--input", npy, "--out", shards[i], "--batch", "2", "--hidden-states",
                "--shard", $"{i}/5"]));
        Assert.Equal(0L, SafeTensors.ReadHeader(shards[0]).Entries["detail"].Shape[0]);
        string merged = Path.Combine(dir.Path, "merged.safetensors");
        Assert.Equal(0, BrainMClip.Cli.Program.Main(["merge-features", "--out", merged, .. shards]));
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(merged));

        Assert.Equal(2,
            BrainMClip.Cli.Program.Main(
            ["features", "--clip", ckpt, "--input", npy, "--out", full, "--dtype", "int8"]));
        Assert.Equal(2,
            BrainMClip.Cli.Program.Main(
            ["features", "--clip", ckpt, "--input", npy, "--out", full, "--detail-layers", "2-9"]));
    }

    [Fact]
    public void Bfloat16CheckpointIsConvertedToFloat32()
    {
        using var dir = new TempDir();
        string g = TestPaths.Golden("clip-vit-tiny");
        string d = Path.Combine(dir.Path, "bf16");
        Directory.CreateDirectory(d);
        File.Copy(Path.Combine(g, "config.json"), Path.Combine(d, "config.json"));
        var w = SafeTensors.Load(Path.Combine(g, "model.safetensors"))
            .ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.BFloat16));
        SafeTensors.Save(Path.Combine(d, "model.safetensors"), w);
        using var model = ClipVisionModel.FromPretrained(d);
        var golden = SafeTensors.Load(Path.Combine(g, "golden.safetensors"));
        using var o = model.Run(golden["pixel_values"], new ClipRunOptions());
        Assert.Equal(ScalarType.Float32, o.ImageEmbeds.dtype);
        // bf16 keeps ~3 significant digits
        Assert.True(ClipGoldenTests.MaxAbs(o.ImageEmbeds, golden["image_embeds"]) < 0.1);
    }
}
