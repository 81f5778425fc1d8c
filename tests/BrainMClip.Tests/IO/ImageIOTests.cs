using BrainMClip.IO;
using Xunit;

namespace BrainMClip.Tests.IO;

public class ImageIOTests
{
    [Fact]
    public void ReadsGoldenInputPng()
    {
        var img = ImageIO.Read(TestPaths.Golden("clip-vit-tiny/input.png"));
        Assert.Equal(53, img.Width);
        Assert.Equal(41, img.Height);
    }

    [Fact]
    public void PngRoundTripIsLossless()
    {
        using var dir = new TempDir();
        var img = new RgbImage(5, 3);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)(i * 17);
        string p = Path.Combine(dir.Path, "a.png");
        ImageIO.WritePng(p, img);
        Assert.Equal(img.Pixels, ImageIO.Read(p).Pixels);
    }
}
