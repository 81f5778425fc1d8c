using BrainMClip.IO;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Reliability;

[Trait("Category", "Reliability")]
// Sequential: the fuzzer's per-case hang budget is wall-clock (a Task.Run item waited for 10 s); beside other tests
// on a loaded machine a case missed it (NIfTI case 1050, 30 Nov 2026, load 44) without hanging.
[Collection("Console")]
public class ReaderFuzzTests(ITestOutputHelper log)
{
    static byte[] NpySeed(NpyDType t, long[] shape)
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "s.npy");
        long n = shape.Aggregate(1L, (a, b) => a * b) * Npy.ElementSize(t);
        var data = new byte[n];
        new Random(1).NextBytes(data);
        Npy.Write(p, t, shape, data);
        return File.ReadAllBytes(p);
    }

    [Fact]
    public void NpyReaderRejectsMutationsCleanly()
    {
        var seeds = new[]
            { NpySeed(NpyDType.Float32, [4, 5]), NpySeed(NpyDType.Int16, [3, 2, 2]),
            NpySeed(NpyDType.UInt8, [2, 4, 4, 3]) };
        var r = Fuzzer.Run("npy", seeds, 2500, ".npy", p => Npy.Read(p), log, headerBytes: 128);
        Assert.Equal(2500, r.Cases);
    }

    [Fact]
    public void SafeTensorsReaderRejectsMutationsCleanly()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "s.safetensors");
        SafeTensors.Save(p,
            new Dictionary<string, Tensor>
            { ["a"] = randn(3, 4), ["b"] = arange(6L), ["c"] = ones(2, 2, dtype: ScalarType.Float16) },
            new Dictionary<string, string> { ["k"] = "v" });
        var seeds = new[] { File.ReadAllBytes(p) };
        var r = Fuzzer.Run("safetensors", seeds, 2500, ".safetensors", path =>
        {
            using var scope = NewDisposeScope();
            SafeTensors.Load(path);
        }, log, headerBytes: 300);
        Assert.Equal(2500, r.Cases);
    }

    [Fact]
    public void ImageReaderRejectsMutationsCleanly()
    {
        var img = new RgbImage(12, 9);
        new Random(3).NextBytes(img.Pixels);
        var seeds = new[] { ImageIO.EncodePng(img) };
        var r = Fuzzer.Run("png", seeds, 1000, ".png", p => ImageIO.Read(p), log, headerBytes: 64);
        Assert.Equal(1000, r.Cases);
    }
}
