using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.IO;

public class SafeTensorsTests
{
    [Fact]
    public void ReadsGoldenClipFixture()
    {
        var t = SafeTensors.Load(TestPaths.Golden("clip-vit-tiny/golden.safetensors"));
        Assert.Equal(new long[] { 1, 3, 32, 32 }, t["pixel_values"].shape);
        Assert.Equal(new long[] { 1, 17, 32 }, t["vd_tokens"].shape);
        // vd_tokens row 0 has unit norm by definition.
        Assert.Equal(1.0, t["vd_tokens"][0, 0].norm().item<float>(), 5);
    }

    [Fact]
    public void RoundTripsWithMetadataAndRowSlices()
    {
        using var dir = new TempDir();
        var a = arange(24, dtype: ScalarType.Float32).reshape(4, 3, 2);
        var b = tensor(new long[] { 5, -7 });
        string p = Path.Combine(dir.Path, "x.safetensors");
        SafeTensors.Save(p, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b },
            new Dictionary<string, string> { ["source"] = "test" });
        var back = SafeTensors.Load(p, out var meta);
        Assert.Equal("test", meta["source"]);
        Assert.True(back["a"].equal(a).all().item<bool>());
        Assert.Equal(new long[] { 5, -7 }, back["b"].data<long>().ToArray());
        var rows = SafeTensors.LoadTensor(p, "a", 1, 2);
        Assert.True(rows.equal(a[1..3]).all().item<bool>());
        SafeTensors.Save(p, new Dictionary<string, Tensor> { ["a"] = a }, castFloatTo: ScalarType.Float16);
        Assert.Equal(ScalarType.Float16, SafeTensors.Load(p)["a"].dtype);
    }

    [Fact]
    public void TruncatedFileIsAClearError()
    {
        using var dir = new TempDir();
        string p = Path.Combine(dir.Path, "x.safetensors");
        SafeTensors.Save(p, new Dictionary<string, Tensor> { ["a"] = ones(10, 10) });
        var bytes = File.ReadAllBytes(p);
        File.WriteAllBytes(p, bytes[..(bytes.Length - 7)]);
        var e = Assert.Throws<UserInputException>(() => SafeTensors.Load(p));
        Assert.Contains(p, e.Message);
    }
}
