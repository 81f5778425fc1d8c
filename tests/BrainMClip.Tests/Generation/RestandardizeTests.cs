using BrainMClip.Generation.Pipelines;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

public class RestandardizeTests
{
    [Fact]
    public void PredictionsTakeTheTrainingFeaturesMeanAndStdPerTokenChannel()
    {
        using var g = new Generator(5);
        var pred = randn([6, 2, 3], generator: g) * 0.1 + 0.5;        // shrunk, off-centre predictions
        var mean = randn([2, 3], generator: g).to_type(ScalarType.Float64);
        var std = (rand([2, 3], generator: g) + 0.5).to_type(ScalarType.Float64);
        using var r = BrainMClip.Model.Conditioning.Restandardize(pred, mean, std);
        Assert.Equal(pred.shape, r.shape);
        // Hand computation for one entry (sample 4, token 1, channel 2): population-free n−1 std as torch.std / numpy ddof=1.
        var col = Enumerable.Range(0, 6).Select(i => (double)pred[i, 1, 2].item<float>()).ToArray();
        double m = col.Average(), s = Math.Sqrt(col.Sum(v => (v - m) * (v - m)) / 5);
        double expected = (col[4] - m) / s * std[1, 2].item<double>() + mean[1, 2].item<double>();
        Assert.Equal(expected, r[4, 1, 2].item<float>(), 5);
        // Over the samples the result has exactly the target mean and std.
        Assert.True((r.to_type(ScalarType.Float64).mean([0]) - mean).abs().max().item<double>() < 1e-5);
        Assert.True((r.to_type(ScalarType.Float64).std(0) - std).abs().max().item<double>() < 1e-5);
    }

    [Fact]
    public void LoadConditioningReadsTheTrainingStatisticsFromAFeaturesFile()
    {
        using var dir = new TempDir();
        using var g = new Generator(7);
        var train = randn([300, 2, 4], generator: g) * 3 + 1;           // 300 rows: read in two chunks of 256
        var feat = Path.Combine(dir.Path, "train.safetensors");
        SafeTensors.Save(feat, new Dictionary<string, Tensor> { ["semantic"] = train });
        using (var slice = SafeTensors.LoadTensor(feat, "semantic", 256, 44))
            Assert.True(slice.equal(train.narrow(0, 256, 44)).all().item<bool>(), "row slice");
        var sem = randn([5, 2, 4], generator: g) * 0.01;
        var predPath = Path.Combine(dir.Path, "pred.safetensors");
        SafeTensors.Save(predPath, new Dictionary<string, Tensor> { ["semantic"] = sem, ["detail_projected"] = sem.clone() });
        var (cond, _, source) = Reconstruction.LoadConditioning(predPath, 0.25, feat);
        using var expectedTokens = BrainMClip.Model.Conditioning.Restandardize(sem, train.to_type(ScalarType.Float64).mean([0]), train.to_type(ScalarType.Float64).std(0));
        using var expected = BrainMClip.Model.Conditioning.Fuse(expectedTokens, expectedTokens, 0.25);
        Assert.True((cond - expected).abs().max().item<float>() < 1e-5, $"{source}: max diff {(cond - expected).abs().max().item<float>()}");
        Assert.Contains("re-standardised", source);
        var bad = Path.Combine(dir.Path, "bad.safetensors");
        SafeTensors.Save(bad, new Dictionary<string, Tensor> { ["semantic"] = randn([10, 3, 4]) });
        var e = Assert.Throws<UserInputException>(() => Reconstruction.LoadConditioning(predPath, 0.25, bad));
        Assert.Contains("bad.safetensors", e.Message);
    }
}
