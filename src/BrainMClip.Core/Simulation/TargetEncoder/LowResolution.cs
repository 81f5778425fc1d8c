using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>
/// Low-resolution views of scenes: shrink (antialiased bilinear, as the pixel generator prepares its targets), round to
/// 8 bits, enlarge back (bilinear without antialiasing, as the CLIP metric resizes its input). Training on such views
/// makes the encoder's embedding tolerant to resolution, so the metric CLIP recognises the demo generator's 32-px
/// renderings; without them the shipped encoder did not even recognise the true images shrunk to 32 px (2-way 56.8%).
/// </summary>
public static class LowResolution
{
    /// <summary>One image batch (B, 3, S, S) uint8 seen at <paramref name="side"/>² and brought back to S².</summary>
    public static Tensor View(Tensor imagesU8, int side)
    {
        using var scope = NewDisposeScope();
        long s = imagesU8.shape[2];
        var x = imagesU8.to_type(ScalarType.Float32) / 255f;
        var small = F.interpolate(x, size: [side, side], mode: InterpolationMode.Bilinear, align_corners: false,
            antialias: side < s);
        small = (small.clamp(0, 1) * 255f).round();
        var back = F.interpolate(small, size: [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
        return back.clamp(0, 255).round().to_type(ScalarType.Byte).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The batch with a random subset (each image with probability <paramref name="fraction"/>) replaced by its view at
    /// one side drawn uniformly from [<paramref name="minSide"/>, <paramref name="maxSide"/>]; the draws come from
    /// <paramref name="gen"/> only, so a seeded run stays reproducible.
    /// </summary>
    public static Tensor Augment(Tensor imagesU8, double fraction, int minSide, int maxSide, Generator gen)
    {
        using var scope = NewDisposeScope();
        long b = imagesU8.shape[0];
        int side = (int)randint(minSide, maxSide + 1, [1], generator: gen).item<long>();
        var pick = rand([b], generator: gen).lt(fraction).view(b, 1, 1, 1);
        if (fraction <= 0) return imagesU8.alias().MoveToOuterDisposeScope();
        return where(pick, View(imagesU8, side), imagesU8).MoveToOuterDisposeScope();
    }
}
