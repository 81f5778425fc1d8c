using BrainMClip.Simulation;
using BrainMClip.Simulation.TargetEncoder;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Simulation.TargetEncoder;

/// <summary>
/// clip-train's low-resolution views (<see cref="LowResolution"/>): they remove the detail above the chosen side and
/// nothing else, and the augmentation is a seeded choice between the image and its view.
/// </summary>
public class LowResolutionTests
{
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    static Tensor Checkerboard(int n, int side)
    {
        var yy = arange(side).view(side, 1);
        var xx = arange(side).view(1, side);
        var board = (yy + xx).remainder(2).mul(255).to_type(ScalarType.Byte);
        return board.expand(n, 3, side, side).contiguous();
    }

    [Fact]
    public void ViewKeepsFlatImagesAndRemovesDetailFinerThanItsSide()
    {
        using var scope = NewDisposeScope();
        var flat = full(new long[] { 2, 3, 64, 64 }, 77, dtype: ScalarType.Byte);
        Assert.True(Same(LowResolution.View(flat, 24), flat));
        // A one-pixel checkerboard has no content below 64 px: at 32 px it is mid-grey everywhere (but at the border,
        // where the antialiasing filter is cut and renormalised).
        var grey = LowResolution.View(Checkerboard(1, 64), 32).to_type(ScalarType.Int32)
            .narrow(2, 4, 56).narrow(3, 4, 56);
        Assert.InRange(grey.min().item<int>(), 126, 129);
        Assert.InRange(grey.max().item<int>(), 126, 129);
        // A 16-pixel checkerboard survives a 32-px view nearly intact away from its edges.
        var coarse = Checkerboard(1, 4).repeat_interleave(16, 2).repeat_interleave(16, 3);
        var seen = LowResolution.View(coarse, 32).to_type(ScalarType.Float32);
        var diff = (seen - coarse.to_type(ScalarType.Float32)).abs();
        Assert.True(diff.narrow(2, 4, 8).narrow(3, 4, 8).max().item<float>() < 1.5f);
        Assert.Equal(new long[] { 1, 3, 64, 64 }, seen.shape);
    }

    [Fact]
    public void AugmentIsASeededChoiceBetweenImageAndView()
    {
        using var scope = NewDisposeScope();
        var images = randint(0, 256, new long[] { 16, 3, 64, 64 }, generator: new Generator(5)).to_type(ScalarType.Byte);
        Assert.True(Same(LowResolution.Augment(images, 0, 16, 40, new Generator(1)), images));
        var a = LowResolution.Augment(images, 0.5, 16, 40, new Generator(9));
        var b = LowResolution.Augment(images, 0.5, 16, 40, new Generator(9));
        Assert.True(Same(a, b));
        // Every image is either itself or its view at one side in the range, and both kinds occur.
        var all = LowResolution.Augment(images, 1, 16, 40, new Generator(9));
        int side = Enumerable.Range(16, 25).Single(s => Same(LowResolution.View(images, s), all));
        var view = LowResolution.View(images, side);
        int kept = 0, changed = 0;
        for (int i = 0; i < 16; i++)
        {
            if (Same(a[i], images[i])) kept++;
            else if (Same(a[i], view[i])) changed++;
        }
        Assert.Equal(16, kept + changed);
        Assert.True(kept > 0 && changed > 0, $"kept {kept}, changed {changed}");
    }
}
