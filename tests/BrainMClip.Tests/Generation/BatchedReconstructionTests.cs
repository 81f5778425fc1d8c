using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary>
/// reconstruct --batch K on the demo's pixel generator layout and on the tiny Versatile-Diffusion-layout generator
/// (UNet + VAE). Two guarantees, each tested where it holds (docs/performance.md): the same call repeated (same
/// shapes, same kernels) is bit-identical on any CPU; K images in one call against each made alone (other row counts,
/// so other GEMM/convolution blockings) agree within the float32 reordering bound <see cref="Float32Reorder.Image"/>
/// — bit-identical on Intel's MKL blocking (measured), 8.9e-7 apart on AMD Zen 4, which blocks the same shapes
/// differently (issue 29).
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

    /// <summary>K images from one GenerateEach call: the call repeated is bit-identical (same path); each image
    /// against the one made alone (K = 1: other row counts) is within the float32 reordering bound, while different
    /// images stay far apart (so the bound cannot hide rows swapped or mixed).</summary>
    static void AssertBatchInvariant(ImageVariationPipeline pipe, long tokens, long dim, double guidance, int k)
    {
        using var scope = NewDisposeScope();
        var cond = randn([k, tokens, dim], generator: new Generator(4));
        Generator[] Seeds() => Enumerable.Range(0, k).Select(i => new Generator((ulong)(100 + i))).ToArray();
        var together = pipe.GenerateEach(cond, Seeds(), guidance, 2);
        var again = pipe.GenerateEach(cond, Seeds(), guidance, 2);
        Assert.True(together.eq(again).all().item<bool>(), $"the same {k}-image call twice differs (same path)");
        var seeds = Seeds();
        for (int i = 0; i < k; i++)
        {
            var alone = pipe.GenerateEach(cond.narrow(0, i, 1), [seeds[i]], guidance, 2);
            Float32Reorder.AssertImagesClose(together[i], alone[0],
                $"image {i} of {k} (guidance {guidance}) against K = 1");
            if (i > 0)
                Assert.True(Float32Reorder.MaxAbs(together[i], together[0]) > 1e3 * Float32Reorder.Image,
                    $"images 0 and {i} are nearly equal: the test would not see rows mixed up");
        }
    }

    /// <summary>
    /// The bound against float64: one forward of the demo's UNet layout (random weights) at 8 rows and at 1 row, each
    /// row within <see cref="Float32Reorder.Image"/> · max|output| of the same UNet in float64. Any float32 summation
    /// order that satisfies this (every CPU's, by the derivation in Float32Reorder) leaves K and 1 within twice the
    /// bound of each other, which is what the batch tests above assert per sampling pass.
    /// </summary>
    [Fact]
    public void OneForwardIsWithinTheFloat32BoundOfFloat64AtAnyBatch()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        using var unet = new UNet2DConditionModel(PixelGeneratorTrainer.SmallConfig(32, 8));
        using var reference = new UNet2DConditionModel(PixelGeneratorTrainer.SmallConfig(32, 8));
        using (no_grad())
        {
            var src = unet.state_dict();
            foreach (var (k, v) in reference.state_dict()) v.copy_(src[k]);
        }
        reference.to(ScalarType.Float64);
        unet.eval(); reference.eval();
        var g = new Generator(5);
        var x = randn([8, 3, 32, 32], generator: g);
        var ctx = randn([8, 3, 8], generator: g);
        var t = tensor(500L);
        using var noGrad = no_grad();
        var exact = reference.Forward(x.to_type(ScalarType.Float64), t, ctx.to_type(ScalarType.Float64));
        double scale = exact.abs().max().item<double>();
        var batched = unet.Forward(x, t, ctx);
        for (int i = 0; i < 8; i++)
        {
            var alone = unet.Forward(x.narrow(0, i, 1), t, ctx.narrow(0, i, 1));
            foreach (var (name, row) in new[] { ("8 rows", batched.narrow(0, i, 1)), ("1 row", alone) })
            {
                double err = Float32Reorder.MaxAbs(row, exact.narrow(0, i, 1)) / scale;
                Assert.True(err <= Float32Reorder.Image,
                    $"row {i} ({name}): {err:E2} of max|output| from float64 (bound {Float32Reorder.Image:E0})");
            }
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

    /// <summary>With one thread GenerateEach caps the batch so the UNet stays in one libtorch convolution regime
    /// (measured on Intel); the images then agree within the reordering bound on any CPU.</summary>
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
        string Run(int batch, int candidates, string tag = "")
        {
            var dir = Path.Combine(tmp.Path, $"b{batch}c{candidates}{tag}");
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
        static System.Text.Json.Nodes.JsonNode Images(string d) =>
            System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(d, "reconstruct.json")))!["images"]!;
        foreach (int candidates in new[] { 1, 2 })
        {
            var one = Run(1, candidates);
            // 3 samples per call: calls straddle images when there are 2 candidates each. Other row counts than
            // K = 1, so PNGs agree within one grey level and scores to 6 digits (Float32Reorder), not to the bit.
            var three = Run(3, candidates);
            for (int i = 0; i < 5; i++)
                Float32Reorder.AssertPngsClose(Path.Combine(one, Reconstruction.ImageName(i)),
                    Path.Combine(three, Reconstruction.ImageName(i)));
            Float32Reorder.AssertManifestImagesAgree(Images(one), Images(three));
            // The same settings again: the same path, so the same bytes.
            var again = Run(3, candidates, "-again");
            for (int i = 0; i < 5; i++)
                Assert.Equal(File.ReadAllBytes(Path.Combine(three, Reconstruction.ImageName(i))),
                    File.ReadAllBytes(Path.Combine(again, Reconstruction.ImageName(i))));
            Assert.Equal(Images(three).ToJsonString(), Images(again).ToJsonString());
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
