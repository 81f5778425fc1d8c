using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests;

public class TorchLoadTests
{
    [Fact]
    public void ForwardAndBackwardMatchHandComputedGradient()
    {
        using var scope = NewDisposeScope();
        // y = sum((W x + b)^2) with W = [[1,2],[3,4]], x = [1,1], b = [0.5,-0.5] -> Wx+b = [3.5, 6.5]
        var w = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2).requires_grad_(true);
        var b = tensor(new float[] { 0.5f, -0.5f }).requires_grad_(true);
        var x = tensor(new float[] { 1, 1 });
        var y = (w.matmul(x) + b).pow(2).sum();
        y.backward();
        Assert.Equal(3.5f * 3.5f + 6.5f * 6.5f, y.item<float>(), 5);
        // dy/db = 2(Wx+b); dy/dW = 2(Wx+b) x^T
        Assert.Equal(new float[] { 7, 13 }, b.grad!.data<float>().ToArray());
        Assert.Equal(new float[] { 7, 7, 13, 13 }, w.grad!.data<float>().ToArray());
    }
}
