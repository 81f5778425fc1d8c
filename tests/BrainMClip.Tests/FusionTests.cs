using BrainMClip.Model;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests;

public class FusionTests
{
    [Fact]
    public void FuseMixesThenRenormalisesByClsNorm()
    {
        // Sample: T=2, P=2. semantic = [[3,4],[1,0]], projected = [[0,0],[0,2]], λ=0.5
        // mixed = [[1.5,2],[0.5,1]]; CLS norm = 2.5 → [[0.6,0.8],[0.2,0.4]]
        var s = tensor(new float[] { 3, 4, 1, 0 }).reshape(1, 2, 2);
        var p = tensor(new float[] { 0, 0, 0, 2 }).reshape(1, 2, 2);
        var c = Conditioning.Fuse(s, p, 0.5).data<float>().ToArray();
        Assert.Equal(new[] { 0.6f, 0.8f, 0.2f, 0.4f }, c.Select(v => MathF.Round(v, 6)).ToArray());
    }
}
