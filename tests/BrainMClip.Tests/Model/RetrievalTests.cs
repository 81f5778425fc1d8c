using BrainMClip.Model;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

public class RetrievalTests
{
    [Fact]
    public void PerfectPredictionsScoreOne()
    {
        var y = randn(40, 3, 5);
        var r = Retrieval.Compute(y * 2.5, y, loops: 30, batch: 300, seed: 1);
        Assert.Equal((1.0, 1.0, 1, 40), (r.ImageToBrainTop1, r.BrainToImageTop1, r.Loops, r.Batch));
    }

    [Fact]
    public void HandComputedDirectionsDiffer()
    {
        // images y0=(1,0), y1=(0,1), y2=(1,1)/√2; predictions p0=(1,0.1), p1=(1,0.2), p2=(0.6,1)
        var y = tensor(new float[] { 1, 0, 0, 1, 1, 1 }).reshape(3, 2);
        var p = tensor(new float[] { 1, 0.1f, 1, 0.2f, 0.6f, 1 }).reshape(3, 2);
        // image→brain: y0 → argmax_j cos(y0,p_j) = p0 ✓; y1 → p2 ✗; y2 → p2 ✓  → 2/3.
        // brain→image: p0 → y0 ✓; p1 → y0 ✗ (cos .98 vs y2 .83); p2 → y2 ✓ (cos .97) → 2/3.
        var r = Retrieval.Compute(p, y, loops: 5, batch: 300);
        Assert.Equal(2.0 / 3, r.ImageToBrainTop1, 9);
        Assert.Equal(2.0 / 3, r.BrainToImageTop1, 9);
    }

    [Fact]
    public void LoopsDrawSeededSubsets()
    {
        manual_seed(5);
        var y = randn(50, 8);
        var p = y + randn(50, 8) * 0.8;
        var a = Retrieval.Compute(p, y, loops: 10, batch: 20, seed: 3);
        var b = Retrieval.Compute(p, y, loops: 10, batch: 20, seed: 3);
        Assert.Equal(a, b);
        Assert.Equal((10, 20), (a.Loops, a.Batch));
        Assert.InRange(a.ImageToBrainTop1, 0.05, 1.0);
        Assert.Throws<UserInputException>(() => Retrieval.Compute(p, y.narrow(0, 0, 10)));
    }
}
