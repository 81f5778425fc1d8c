using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>
/// reconstruct --batch K: every image equal to the bit to the one K = 1 makes, on the demo's pixel generator layout
/// and on the tiny Versatile-Diffusion-layout generator (UNet + VAE). Before the fix the UNet's per-row timestep
/// embedding (MKL GEMM on 2 vs 8 rows) made batch 8 differ by ~1e-6.
/// </summary>
public class BatchedReconstructionTests
{
    /// <summary>A pixel generator folder with the demo's UNet layout at 32×32 (random weights), 3 tokens × 8.</summary>
    static string PixelGenerator(string dir)
    {
        manual_seed(11);
        using var unet = new UNet2DConditionModel(PixelGeneratorTrainer.SmallConfig(32, 8));
        var folder = Path.Combine(dir, "pixel");
        GeneratorFolder.SavePixelGenerator(folder, unet, SchedulerConfig.StableDiffusion,
            new GeneratorInfo { ImageSize = 32, ContextTokens = 3, ContextDim = 8 });
        return folder;
    }

    /// <summary>K images from one GenerateEach call against each generated alone (float32 bits).</summary>
    static void AssertBatchInvariant(ImageVariationPipeline pipe, long tokens, long dim, double guidance, int k)
    {
        using var scope = NewDisposeScope();
        var cond = randn([k, tokens, dim], generator: new Generator(4));
        Generator[] Seeds() => Enumerable.Range(0, k).Select(i => new Generator((ulong)(100 + i))).ToArray();
        var together = pipe.GenerateEach(cond, Seeds(), guidance, 2);
        var seeds = Seeds();
        for (int i = 0; i < k; i++)
        {
            var alone = pipe.GenerateEach(cond.narrow(0, i, 1), [seeds[i]], guidance, 2);
            double diff = (alone[0] - together[i]).abs().max().item<float>();
            Assert.True(diff == 0, $"image {i} of {k} (guidance {guidance}): max |diff| {diff:E3} against K = 1");
        }
    }

    [Theory]
    [InlineData(2.0, 2)]
    [InlineData(2.0, 8)]
    [InlineData(1.0, 3)]
    public void PixelGeneratorImagesDoNotDependOnTheBatch(double guidance, int k)
    {
        using var tmp = new TempDir();
        using var gen = GeneratorFolder.Load(PixelGenerator(tmp.Path));
        AssertBatchInvariant(gen.CreatePipeline("ddim"), 3, 8, guidance, k);
    }

    [Theory]
    [InlineData(2.0, 8)]
    [InlineData(1.0, 4)]
    public void VdLayoutImagesDoNotDependOnTheBatch(double guidance, int k)
    {
        using var gen = GeneratorFolder.Load(TestPaths.Golden("diffusion-tiny"));
        AssertBatchInvariant(gen.CreatePipeline("dpm"), 5, 32, guidance, k);
    }

    [Fact]
    public void OneThreadStaysWithinOneKernelRegime()
    {
        int threads = get_num_threads();
        try
        {
            set_num_threads(1);
            Assert.Equal(7, ImageVariationPipeline.MaxImagesPerCall(3.5));
            using var gen = GeneratorFolder.Load(TestPaths.Golden("diffusion-tiny"));
            AssertBatchInvariant(gen.CreatePipeline("ddim"), 5, 32, 2.0, 7);
        }
        finally { set_num_threads(threads); }
    }

    [Fact]
    public void ReconstructBatchWritesTheSamePngsAndManifest()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var gen = PixelGenerator(tmp.Path);
        var pred = Path.Combine(tmp.Path, "pred.safetensors");
        var g = new Generator(3);
        var sem = randn([5, 3, 8], generator: g);
        var dp = randn([5, 3, 8], generator: g);
        SafeTensors.Save(pred, new Dictionary<string, Tensor>
        {
            ["semantic"] = sem,
            ["detail_projected"] = dp,
            ["detail"] = randn([5, 3, 4], generator: g),
            ["fused"] = BrainMClip.Model.Conditioning.Fuse(sem, dp, 0.25),
        });
        string Run(int batch, int candidates)
        {
            var dir = Path.Combine(tmp.Path, $"b{batch}c{candidates}");
            Reconstruction.Run(new ReconstructOptions
            {
                PredPath = pred,
                GeneratorPath = gen,
                OutDir = dir,
                Steps = 2,
                Guidance = 2.0,
                Batch = batch,
                Candidates = candidates,
            }, _ => new MeanScorer(), TextWriter.Null);
            return dir;
        }
        Directory.CreateDirectory(Path.Combine(gen, "clip"));
        foreach (int candidates in new[] { 1, 2 })
        {
            var one = Run(1, candidates);
            // 3 samples per call: calls straddle images when there are 2 candidates each.
            var three = Run(3, candidates);
            for (int i = 0; i < 5; i++)
                Assert.Equal(File.ReadAllBytes(Path.Combine(one, Reconstruction.ImageName(i))),
                    File.ReadAllBytes(Path.Combine(three, Reconstruction.ImageName(i))));
            static string Images(string d) =>
                System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(d, "reconstruct.json")))!
                    ["images"]!.ToJsonString();
            Assert.Equal(Images(one), Images(three));
        }
    }

    /// <summary>Scores candidates by mean brightness (a stand-in for the CLIP scorer).</summary>
    sealed class MeanScorer : ICandidateScorer
    {
        public float[] Score(Tensor images01, Tensor predictedTokens) =>
            images01.mean([1, 2, 3]).data<float>().ToArray();
        public void Dispose() { }
    }
}
