using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using BrainMClip.Model;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

/// <summary><c>generator train --context semantic+detail</c> and what <c>reconstruct</c> feeds such a
/// generator.</summary>
public class DetailContextTests
{
    const int N = 6, Tokens = 5, P = 8, W = 12;

    /// <summary>Six 20×20 images and their features: 'semantic' (N,5,8), 'detail' (N,5,12); 5 tokens = CLS + 2×2
    /// patches.</summary>
    static (string Stim, string Features) WriteTrainingData(string dir)
    {
        var g = new Generator(5);
        var images = randint(0, 256, [N, 20, 20, 3], dtype: ScalarType.Byte, generator: g);
        var stim = Path.Combine(dir, "stim.npy");
        Npy.WriteUInt8(stim, [N, 20, 20, 3], images.data<byte>().ToArray());
        var feat = Path.Combine(dir, "feat.safetensors");
        SafeTensors.Save(feat, new Dictionary<string, Tensor>
        {
            ["semantic"] = randn([N, Tokens, P], generator: g),
            ["detail"] = randn([N, Tokens, W], generator: g) * 3 + 1,
        });
        return (stim, feat);
    }

    static string Train(string dir, string stim, string feat, string context) =>
        PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        {
            ImagesPath = stim,
            FeaturesPath = feat,
            OutDir = Path.Combine(dir, "gen"),
            Steps = 2,
            BatchSize = 2,
            Size = 32,
            ContextMap = true,
            Prediction = "sample",
            Context = context,
        }, TextWriter.Null).OutDir;

    [Fact]
    public void GeneratorRecordsBothStreamsAndTheirWidth()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var (stim, feat) = WriteTrainingData(tmp.Path);
        using var gen = GeneratorFolder.Load(Train(tmp.Path, stim, feat, "semantic+detail"));
        Assert.Equal(["semantic", "detail"], gen.Info!.ContextStreams);
        Assert.True(gen.Info.UsesDetail);
        Assert.Equal(P + W, gen.Unet.Config.CrossAttentionDim);
        Assert.Equal(P + W, gen.Info.ContextDim);

        var e = Assert.Throws<UserInputException>(() => Train(tmp.Path, stim, feat, "detail"));
        Assert.Equal("Context", e.Field); // the CLI names it --context
        Assert.Contains("unknown context 'detail'", e.Message);
        var oddTokens = Path.Combine(tmp.Path, "odd.safetensors");
        SafeTensors.Save(oddTokens, new Dictionary<string, Tensor>
        { ["semantic"] = zeros(N, Tokens, P), ["detail"] = zeros(N, Tokens - 1, W) });
        // A fresh folder: generator train refuses to start a new run in one that holds a run.
        string fresh = Path.Combine(tmp.Path, "odd");
        e = Assert.Throws<UserInputException>(() => Train(fresh, stim, oddTokens, "semantic+detail"));
        Assert.Contains("4 tokens", e.Message);
    }

    /// <summary>
    /// The context is [fused semantic ‖ detail] per token; with --restandardize the detail predictions get the
    /// training detail statistics (checked against a float64 computation written out here).
    /// </summary>
    [Fact]
    public void AppendsRestandardisedDetailPerToken()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var (_, feat) = WriteTrainingData(tmp.Path);
        var g = new Generator(9);
        var detail = randn([4, Tokens, W], generator: g) * 0.2 - 0.5;
        var pred = Path.Combine(tmp.Path, "pred.safetensors");
        SafeTensors.Save(pred, new Dictionary<string, Tensor>
        { ["semantic"] = randn([4, Tokens, P], generator: g), ["detail"] = detail });
        var cond = randn([4, Tokens, P], generator: g);
        var info = new GeneratorInfo { ContextStreams = ["semantic", "detail"] };
        var o = new ReconstructOptions
        { PredPath = pred, GeneratorPath = "unused", OutDir = "unused", RestandardizeWith = feat };
        var (both, source) = DetailContext.Append(cond, "semantic", o, info);

        var train = SafeTensors.Load(feat, ["detail"])["detail"].to_type(ScalarType.Float64);
        var d = detail.to_type(ScalarType.Float64);
        var expected = (d - d.mean([0], keepdim: true)) / d.std(0, keepdim: true)
            * train.std(0, keepdim: true) + train.mean([0], keepdim: true);
        Assert.Equal(new long[] { 4, Tokens, P + W }, both.shape);
        Assert.Equal(0.0, (both.narrow(2, 0, P) - cond).abs().max().item<float>());
        double err = (both.narrow(2, P, W).to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(err < 1e-5, $"restandardised detail differs by {err}");
        Assert.Contains("CLIP-Detail", source);

        var (same, _) = DetailContext.Append(cond, "semantic", o, new GeneratorInfo());
        Assert.Same(cond, same);
    }

    [Fact]
    public void ReconstructNeedsTheDetailPrediction()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var (stim, feat) = WriteTrainingData(tmp.Path);
        var gen = Train(tmp.Path, stim, feat, "semantic+detail");
        var pred = Path.Combine(tmp.Path, "pred.safetensors");
        SafeTensors.Save(pred, new Dictionary<string, Tensor> { ["semantic"] = randn(2, Tokens, P) });
        var e = Assert.Throws<UserInputException>(() => Reconstruction.Run(new ReconstructOptions
        { PredPath = pred, GeneratorPath = gen, OutDir = Path.Combine(tmp.Path, "o"), Steps = 1, Fusion = 0 }, null,
            TextWriter.Null));
        Assert.Contains("'detail'", e.Message);

        // The true features (upper bound) carry both streams: two images render.
        var r = Reconstruction.Run(new ReconstructOptions
        {
            PredPath = feat,
            GeneratorPath = gen,
            OutDir = Path.Combine(tmp.Path, "ub"),
            Steps = 2,
            Guidance = 1,
            Limit = 2,
            FromTrueFeatures = true,
            Fusion = 0,
        }, null, TextWriter.Null);
        Assert.Equal(2, r.Written);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "ub", "rec_001.png")));
    }
}
