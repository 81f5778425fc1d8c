using System.Text.Json.Nodes;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

public class ReconstructionTests
{
    /// <summary>A PRED file as 'predict' writes it: semantic, detail, fused, detail_projected (N, T, P).</summary>
    static string WritePred(string dir, int n, int tokens, int dim)
    {
        var g = new Generator(3);
        var sem = randn([n, tokens, dim], generator: g);
        var dp = randn([n, tokens, dim], generator: g);
        var path = Path.Combine(dir, "pred.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor>
        {
            ["semantic"] = sem,
            ["detail_projected"] = dp,
            ["detail"] = randn([n, tokens, 8], generator: g),
            ["fused"] = BrainMClip.Model.Conditioning.Fuse(sem, dp, 0.25),
        });
        return path;
    }

    /// <summary>Prefers the brightest candidate, to check that best-of-N keeps the highest score.</summary>
    sealed class BrightnessScorer : ICandidateScorer
    {
        public List<float[]> Calls { get; } = [];
        public float[] Score(Tensor images01, Tensor predictedTokens)
        {
            Assert.Equal(2, predictedTokens.dim());
            var s = images01.mean([1, 2, 3]).data<float>().ToArray();
            Calls.Add(s);
            return s;
        }
        public void Dispose() { }
    }

    [Fact]
    public void ReconstructsWithVdStyleFolderBestOfNAndResume()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        // A VD-style generator: the golden unet/vae/ddim plus a clip/ folder (scored by a stand-in here).
        var gen = Path.Combine(tmp.Path, "gen");
        foreach (var sub in new[] { "unet", "vae", "ddim" })
        {
            Directory.CreateDirectory(Path.Combine(gen, sub));
            foreach (var f in Directory.GetFiles(TestPaths.Golden(Path.Combine("diffusion-tiny", sub))))
                if (!f.EndsWith("golden.safetensors")) File.Copy(f, Path.Combine(gen, sub, Path.GetFileName(f)));
        }
        Directory.CreateDirectory(Path.Combine(gen, "clip"));
        var pred = WritePred(tmp.Path, 3, 5, 32);
        var outDir = Path.Combine(tmp.Path, "recon");
        var scorer = new BrightnessScorer();
        var options = new ReconstructOptions
        {
            PredPath = pred,
            GeneratorPath = gen,
            OutDir = outDir,
            Steps = 2,
            Candidates = 2,
            Limit = 2,
            Guidance = 2.0,
        };
        var r = Reconstruction.Run(options, _ => scorer, TextWriter.Null);
        Assert.Equal(2, r.Written);
        Assert.True(File.Exists(Path.Combine(outDir, "rec_000.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "rec_001.png")));
        Assert.False(File.Exists(Path.Combine(outDir, "rec_002.png")));
        var img = ImageIO.Read(Path.Combine(outDir, "rec_001.png"));
        Assert.Equal((16, 16), (img.Width, img.Height));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "reconstruct.json")))!;
        var images = manifest["images"]!.AsArray();
        Assert.Equal(2, images.Count);
        for (int i = 0; i < 2; i++)
        {
            var scores = scorer.Calls[i];
            Assert.Equal(Array.IndexOf(scores, scores.Max()), images[i]!["chosen_candidate"]!.GetValue<int>());
        }
        // Resume: existing images are skipped, the third is added, same seeds → the first PNG is unchanged.
        var before = File.ReadAllBytes(Path.Combine(outDir, "rec_000.png"));
        var r2 = Reconstruction.Run(options with { Limit = 3, Resume = true }, _ => new BrightnessScorer(),
            TextWriter.Null);
        Assert.Equal((1, 2), (r2.Written, r2.Skipped));
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(outDir, "rec_000.png")));
        Assert.Equal(3,
            JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "reconstruct.json")))!["images"]!.AsArray().Count);
        // Determinism: regenerating image 0 from scratch gives the same image. Alone it is one call of 2 samples
        // instead of 4 (other row counts, another GEMM blocking on some CPUs): within one grey level
        // (Float32Reorder), and the same settings twice give the same bytes.
        var again = Path.Combine(tmp.Path, "again");
        Reconstruction.Run(options with { OutDir = again, Limit = 1 }, _ => new BrightnessScorer(), TextWriter.Null);
        Float32Reorder.AssertPngsClose(Path.Combine(outDir, "rec_000.png"), Path.Combine(again, "rec_000.png"));
        var twice = Path.Combine(tmp.Path, "twice");
        Reconstruction.Run(options with { OutDir = twice, Limit = 1 }, _ => new BrightnessScorer(), TextWriter.Null);
        Assert.Equal(File.ReadAllBytes(Path.Combine(again, "rec_000.png")),
            File.ReadAllBytes(Path.Combine(twice, "rec_000.png")));
    }

    [Fact]
    public void BadReconstructInputsAreReported()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var gen = TestPaths.Golden("diffusion-tiny");
        var wrongWidth = WritePred(tmp.Path, 1, 5, 16);
        var e = Assert.Throws<UserInputException>(() => Reconstruction.Run(new ReconstructOptions
        { PredPath = wrongWidth, GeneratorPath = gen, OutDir = Path.Combine(tmp.Path, "o"), Steps = 1 }, null,
            TextWriter.Null));
        Assert.Contains("cross_attention_dim 32", e.Message);
        var pred = Path.Combine(tmp.Path, "p2.safetensors");
        SafeTensors.Save(pred, new Dictionary<string, Tensor> { ["semantic"] = zeros(1, 5, 32) });
        e = Assert.Throws<UserInputException>(() => Reconstruction.Run(new ReconstructOptions
        { PredPath = pred, GeneratorPath = gen, OutDir = Path.Combine(tmp.Path, "o"), Steps = 1 }, null,
            TextWriter.Null));
        Assert.Contains("detail_projected", e.Message);
        e = Assert.Throws<UserInputException>(() => Reconstruction.Run(new ReconstructOptions
        {
            PredPath = pred,
            GeneratorPath = gen,
            OutDir = Path.Combine(tmp.Path, "o"),
            Steps = 1,
            Fusion = 0,
            Candidates = 2
        }, null, TextWriter.Null));
        Assert.Contains("clip", e.Message);
    }

    [Fact]
    public void CosineScorerPrefersMatchingTokens()
    {
        using var scope = NewDisposeScope();
        var target = tensor(new float[] { 1, 0, 0, 1 }).reshape(2, 2);
        var cands = tensor(new float[] { 0, 1, 1, 0, /* */ 2, 0, 0, 2, /* */ 1, 1, 1, 1 }).reshape(3, 2, 2);
        var s = TokenCosineScorer.CosineFlat(cands, target);
        Assert.Equal(0f, s[0], 5);
        Assert.Equal(1f, s[1], 5);
        Assert.Equal((float)(2 / (Math.Sqrt(2) * 2)), s[2], 5);
    }

    [Fact]
    public void GeneratorTrainSmoke()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var g = new Generator(1);
        var images = randint(0, 256, [6, 20, 20, 3], dtype: ScalarType.Byte, generator: g);
        var stim = Path.Combine(tmp.Path, "stim.npy");
        Npy.WriteUInt8(stim, [6, 20, 20, 3], images.data<byte>().ToArray());
        var feat = Path.Combine(tmp.Path, "feat.safetensors");
        SafeTensors.Save(feat, new Dictionary<string, Tensor> { ["semantic"] = randn([6, 3, 8], generator: g) });
        var outDir = Path.Combine(tmp.Path, "gen");
        var r = PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        {
            ImagesPath = stim,
            FeaturesPath = feat,
            OutDir = outDir,
            Steps = 3,
            BatchSize = 2,
            Size = 32,
        }, TextWriter.Null);
        Assert.True(double.IsFinite(r.FinalLoss) && r.FinalLoss > 0, $"loss {r.FinalLoss}");
        using var loaded = GeneratorFolder.Load(outDir);
        Assert.Null(loaded.Vae);
        Assert.True(BrainMClip.Generation.Schedulers.SchedulerConfig.Load(
            Path.Combine(outDir, "scheduler", "scheduler_config.json")).SetAlphaToOne);
        Assert.Equal("pixel", loaded.Info!.Kind);
        Assert.Equal(8, loaded.Unet.Config.CrossAttentionDim);
        var pipe = loaded.CreatePipeline("dpm");
        var img = pipe.Generate(randn([1, 3, 8], generator: g), null, 2.0, 2, new Generator(0));
        Assert.Equal(new long[] { 1, 3, 32, 32 }, img.shape);
        Assert.True(img.isfinite().all().item<bool>());

        var bad = Path.Combine(tmp.Path, "bad.safetensors");
        SafeTensors.Save(bad, new Dictionary<string, Tensor> { ["semantic"] = randn([5, 3, 8], generator: g) });
        var e = Assert.Throws<UserInputException>(() => PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        { ImagesPath = stim, FeaturesPath = bad, OutDir = Path.Combine(tmp.Path, "gen-bad"), Steps = 1 },
            TextWriter.Null));
        Assert.Contains("same samples", e.Message);
        // A folder that already holds a run is neither overwritten nor silently continued (valid inputs: bad ones
        // are reported first, as bad inputs).
        var again = Assert.Throws<UserInputException>(() => PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        { ImagesPath = stim, FeaturesPath = feat, OutDir = outDir, Steps = 1 }, TextWriter.Null));
        Assert.Contains("already holds a generator training run", again.Message);
    }
}
