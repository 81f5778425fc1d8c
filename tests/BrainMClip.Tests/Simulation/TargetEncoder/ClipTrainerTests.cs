using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Simulation;
using BrainMClip.Simulation.TargetEncoder;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Simulation.TargetEncoder;

/// <summary>
/// A throwaway scene generator for the trainer's tests: one large shape per image (disc, square, bars or cross) in a
/// random colour, size and position over a noisy background; the caption and labels are the family one-hot, the colour
/// and the size (colour makes the toy objective learnable in a few dozen steps, so the test stays fast). Only here to
/// exercise the objective; the product trains on the hierarchical world.
/// </summary>
sealed class ToyScenes(int seed) : IClipSceneSource
{
    public IReadOnlyList<string> Families { get; } = ["disc", "square", "bars", "cross"];
    public int CaptionDim => 8;
    public int LabelDim => 8;
    public string Description => $"toy shapes, seed {seed}";

    public ClipScene Render(long index, int size, bool singleObject)
    {
        var rng = new Random((int)((seed * 1_000_003L + index) % int.MaxValue));
        int family = rng.Next(4);
        var colour = new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() };
        double radius = size * (0.25 + 0.15 * rng.NextDouble());
        double cx = size * (0.35 + 0.3 * rng.NextDouble()), cy = size * (0.35 + 0.3 * rng.NextDouble());
        double bg = 0.2 + 0.6 * rng.NextDouble();
        var img = new RgbImage(size, size);
        var coverage = new float[4 * size * size];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                double dx = x - cx, dy = y - cy;
                bool inside = family switch
                {
                    0 => dx * dx + dy * dy < radius * radius,
                    1 => Math.Abs(dx) < radius * 0.8 && Math.Abs(dy) < radius * 0.8,
                    2 => Math.Abs(dx) < radius && Math.Abs(dy) < radius
                         && (int)((dy + radius) / (radius / 2.5)) % 2 == 0,
                    _ => (Math.Abs(dx) < radius && Math.Abs(dy) < radius * 0.25)
                         || (Math.Abs(dy) < radius && Math.Abs(dx) < radius * 0.25),
                };
                if (inside) coverage[(family * size + y) * size + x] = 1;
                for (int c = 0; c < 3; c++)
                {
                    double v = inside ? colour[c] : bg + 0.1 * (rng.NextDouble() - 0.5);
                    img[y, x, c] = (byte)Math.Clamp(Math.Round(v * 255), 0, 255);
                }
            }
        var caption = new float[8];
        caption[family] = 1;
        for (int c = 0; c < 3; c++) caption[4 + c] = (float)colour[c];
        caption[7] = (float)(radius / size);
        var families = new float[4];
        families[family] = 1;
        return new ClipScene(img, caption, families, (float[])caption.Clone(), coverage);
    }
}

// Sequential: clip-train seeds torch's global generator, and its identical-weights assertions would break if another
// test drew from that generator meanwhile.
[Collection("Console")]
public class ClipTrainerTests
{
    static readonly ClipVisionConfig Small = new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumAttentionHeads = 2,
        NumHiddenLayers = 2,
        ImageSize = 32,
        PatchSize = 8,
        ProjectionDim = 16,
    };

    static ClipTrainOptions Opts(string outDir, int epochs = 2, int images = 128) => new()
    {
        OutDir = outDir,
        Config = Small,
        Images = images,
        Epochs = epochs,
        Seed = 3,
        BatchSize = 32,
        MaxLr = 3e-3,
        ProbeImages = 140,
        RetrievalWay = 100,
        LayerProbe = false,
    };

    static byte[] Weights(string dir) => File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));

    [Fact]
    public void SameSeedGivesIdenticalWeightsAndAResumedRunEqualsAnUninterruptedOne()
    {
        using var dir = new TempDir();
        string a = Path.Combine(dir.Path, "a"), b = Path.Combine(dir.Path, "b"), c = Path.Combine(dir.Path, "c");
        var ra = ClipTrainer.Train(Opts(a), new ToyScenes(1));
        Assert.True(ra.Completed);
        ClipTrainer.Train(Opts(c), new ToyScenes(1));
        Assert.Equal(Weights(a), Weights(c));

        var first = ClipTrainer.Train(Opts(b) with { StopAfterEpochs = 1 }, new ToyScenes(1));
        Assert.False(first.Completed);
        Assert.False(File.Exists(Path.Combine(b, "model.safetensors")));
        Assert.Throws<UserInputException>(() => ClipTrainer.Train(Opts(b), new ToyScenes(1)));          // no --resume
        Assert.Throws<UserInputException>(() =>
            ClipTrainer.Train(Opts(b, epochs: 3) with { Resume = true }, new ToyScenes(1))); // other options
        var rest = ClipTrainer.Train(Opts(b) with { Resume = true }, new ToyScenes(1));
        Assert.True(rest.Completed);
        Assert.Equal(Weights(a), Weights(b));
        var ha = JsonNode.Parse(File.ReadAllText(Path.Combine(a, "training.json")))!["history"]!.ToJsonString();
        var hb = JsonNode.Parse(File.ReadAllText(Path.Combine(b, "training.json")))!["history"]!.ToJsonString();
        Assert.Equal(ha, hb);
        var other = ClipTrainer.Train(Opts(Path.Combine(dir.Path, "d")) with { Seed = 4 }, new ToyScenes(1));
        Assert.NotEqual(Weights(a), Weights(other.OutDir));
    }

    [Fact]
    public void ContrastiveLossFallsFarBelowChanceOnHeldOutScenes()
    {
        using var dir = new TempDir();
        var r = ClipTrainer.Train(Opts(dir.Path, epochs: 4, images: 384) with { LayerProbe = true }, new ToyScenes(2));
        var init = r.Summary["probe_init"]!;
        var final = r.Summary["probe_final"]!;
        double chance = final["contrastive_chance"]!.GetValue<double>();
        Assert.Equal(Math.Log(32), chance, 3);
        double initLoss = init["contrastive_pooled_loss"]!.GetValue<double>();
        double pooled = final["contrastive_pooled_loss"]!.GetValue<double>();
        double tokens = final["contrastive_token_loss"]!.GetValue<double>();
        Assert.True(initLoss > 0.9 * chance, $"untrained pooled loss {initLoss} vs chance {chance}");
        Assert.True(pooled < 0.6 * chance, $"pooled contrastive loss {pooled} vs chance {chance}");
        Assert.True(tokens < 0.75 * chance, $"token contrastive loss {tokens} vs chance {chance}");
        double cos = final["semantic_mean_cosine"]!.GetValue<double>();
        Assert.True(cos < 0.98, $"semantic targets' mean cosine {cos}");
        var layers = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "layers.json")))!["final"]!.AsArray();
        Assert.Equal(Small.NumHiddenLayers + 1, layers.Count);
    }

    [Fact]
    public void OutputFolderLoadsWithFeaturesAndMatchesTheTrainingPreprocessing()
    {
        using var dir = new TempDir();
        string clip = Path.Combine(dir.Path, "clip");
        ClipTrainer.Train(Opts(clip, epochs: 1), new ToyScenes(1));
        var source = new ToyScenes(9);
        using var set = ClipSceneSet.Render(source, 0, 5, Small.ImageSize, Small.PatchSize, singleObject: false);
        string npy = Path.Combine(dir.Path, "stim.npy");
        var hwc = set.Images.permute(0, 2, 3, 1).contiguous();
        Npy.WriteUInt8(npy, [5, Small.ImageSize, Small.ImageSize, 3], hwc.data<byte>().ToArray());
        string feats = Path.Combine(dir.Path, "f.safetensors");
        FeatureExtractor.Run(new FeatureExtractionOptions
        {
            Checkpoint = clip,
            Input = npy,
            Output = feats,
            Batch = 2,
            Progress = false,
        });
        var semantic = SafeTensors.LoadTensor(feats, "semantic");
        Assert.Equal(new long[] { 5, Small.NumTokens, Small.ProjectionDim }, semantic.shape);
        using var model = ClipVisionModel.FromPretrained(clip);
        var px = ClipTrainingProbe.Pixels(set.Images, ClipImageProcessor.ForSize(Small.ImageSize));
        using var run = model.Run(px, new ClipRunOptions());
        double diff = (run.VdTokens - semantic).abs().max().item<float>();
        Assert.True(diff < 1e-4, $"features vs training-path semantic tokens differ by {diff}");
    }

    [Fact]
    public void EveryEpochRendersFreshScenesAwayFromTheProbeAndTheCurriculum()
    {
        var o = Opts("unused", epochs: 4) with { CurriculumEpochs = 1 };
        var firsts = Enumerable.Range(0, 4).Select(e => ClipTrainer.EpochFirstIndex(e, o)).ToArray();
        Assert.Equal(ClipTrainer.CurriculumFirstIndex, firsts[0]);
        Assert.Equal(new long[] { o.Images, 2L * o.Images, 3L * o.Images }, firsts[1..]);
        Assert.All(firsts, f => Assert.True(f + o.Images <= ClipTrainer.ProbeFirstIndex
                                            || f >= ClipTrainer.CurriculumFirstIndex));
        Assert.Throws<UserInputException>(() => ClipTrainer.Train(
            Opts("unused", epochs: 40_000_000, images: 128), new ToyScenes(1)));     // would reach the probe
    }

    [Fact]
    public void WhitenedPatchEmbeddingDecorrelatesTheSamplePatches()
    {
        using var scope = NewDisposeScope();
        using var set = ClipSceneSet.Render(new ToyScenes(5), 0, 24, Small.ImageSize, Small.PatchSize, false);
        var w = ClipTrainer.WhiteningPatchEmbedding(set, Small);
        Assert.Equal(new long[] { Small.HiddenSize, 3, Small.PatchSize, Small.PatchSize }, w.shape);
        var px = ClipTrainingProbe.Pixels(set.Images, ClipImageProcessor.ForSize(Small.ImageSize));
        var tokens = nn.functional.conv2d(px, w, strides: [Small.PatchSize]).flatten(2).transpose(1, 2)
            .reshape(-1, Small.HiddenSize).to_type(ScalarType.Float64);
        tokens = tokens - tokens.mean([0], keepdim: true);
        var cov = tokens.t().mm(tokens) / tokens.shape[0];
        var diag = cov.diagonal();
        // Unit variance shrunk by the 1 % regulariser: the strongest components ~1, every one in (0, 1].
        Assert.InRange(diag[0].item<double>(), 0.95, 1.0001);
        Assert.True(diag.le(1.0001).all().item<bool>() && diag.gt(0).all().item<bool>());
        double off = (cov - diag_embed(diag)).abs().max().item<double>();
        Assert.True(off < 1e-4, $"largest covariance between whitened channels {off}");
    }
}
