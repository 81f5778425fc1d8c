using BrainMClip.Evaluation;
using BrainMClip.IO;
using TorchSharp;
using Xunit;

namespace BrainMClip.Tests.Evaluation;

public class IdentificationAndLayersTests
{
    [Fact]
    public void TwoWayCountsMatchNumpyExactlyIncludingTies()
    {
        var t = SafeTensors.Load(TestPaths.Fixture("eval/twoway.safetensors"));
        var res = Identification.TwoWay(t["real"], t["pred"]);
        var expected = t["twoway_counts"].data<long>().ToArray();
        Assert.Equal(expected.Select(x => (int)x).ToArray(), res.Counts);
        Assert.Equal(t["twoway_score"].item<double>(), res.Score, 12);
        var (mean, per) = Identification.CorrelationDistance(t["real"], t["pred"]);
        Assert.InRange(Math.Abs(mean - t["corr_distance"].item<double>()), 0, 1e-9);
        var perExp = t["corr_distance_per_image"].data<double>().ToArray();
        for (int i = 0; i < per.Length; i++) Assert.InRange(Math.Abs(per[i] - perExp[i]), 0, 1e-9);
    }

    [Fact]
    public void RsaAndCkaMatchScipy()
    {
        var t = SafeTensors.Load(TestPaths.Fixture("eval/layers.safetensors"), out var meta);
        var layers = Enumerable.Range(0, 4).Select(i => t[$"layer.{i}"]).ToList();
        var roiNames = meta["roi_order"].Split(',');
        var rois = roiNames.ToDictionary(r => r, r => t[$"roi.{r}"]);
        var res = LayerAnalysis.Run(layers, rois);
        var rsa = t["rsa"].data<double>().ToArray();
        var cka = t["cka"].data<double>().ToArray();
        Assert.Equal(roiNames, res.RoiNames);
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < roiNames.Length; j++) Assert.InRange(
                Math.Abs(res.Rsa[i, j] - rsa[i * roiNames.Length + j]), 0, 1e-10);
            for (int j = 0; j < 4; j++) Assert.InRange(Math.Abs(res.Cka[i, j] - cka[i * 4 + j]), 0, 1e-10);
        }
    }
}
