using BrainMClip.Features;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Features;

/// <summary>The CLIP tower and preprocessing against the shared reference fixture (README: abs tolerance
/// 1e-5).</summary>
public class ClipGoldenTests
{
    static string Dir => TestPaths.Golden("clip-vit-tiny");
    static readonly Lazy<Dictionary<string, Tensor>> GoldenTensors = new(() =>
        SafeTensors.Load(Path.Combine(Dir, "golden.safetensors")));
    static Dictionary<string, Tensor> Golden => GoldenTensors.Value;

    internal static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        return (a.cpu().to_type(ScalarType.Float64) - b.cpu().to_type(ScalarType.Float64)).abs().max().item<double>();
    }

    [Fact]
    public void EveryGoldenTensorWithin1e5()
    {
        using var model = ClipVisionModel.FromPretrained(Dir);
        Assert.Equal(6, model.Config.NumHiddenLayers);
        using var o = model.Run(Golden["pixel_values"], ClipRunOptions.AllHiddenStates(6, (2, 4)));
        for (int k = 0; k <= 6; k++)
            Assert.True(MaxAbs(o.HiddenStates[k], Golden[$"hidden_states.{k}"]) < 1e-5, $"hidden_states.{k}");
        Assert.True(MaxAbs(o.LastHiddenState, Golden["hidden_states.6"]) < 1e-5);
        Assert.True(MaxAbs(o.PoolerOutput, Golden["pooler_output"]) < 1e-5);
        Assert.True(MaxAbs(o.ImageEmbeds, Golden["image_embeds"]) < 1e-5);
        Assert.True(MaxAbs(o.VdTokens, Golden["vd_tokens"]) < 1e-5);
        Assert.True(MaxAbs(o.DetailMean!, Golden["detail_mean"]) < 1e-5);

        using var batch = model.Run(Golden["pixel_values_batch"], new ClipRunOptions());
        Assert.True(MaxAbs(batch.ImageEmbeds, Golden["image_embeds_batch"]) < 1e-5);
        Assert.True(MaxAbs(batch.LastHiddenState, Golden["hidden_states_last_batch"]) < 1e-5);
    }

    [Fact]
    public void BatchEqualsSingleRuns()
    {
        using var model = ClipVisionModel.FromPretrained(Dir);
        var px = Golden["pixel_values_batch"];
        using var batch = model.Run(px, new ClipRunOptions { DetailLayers = (1, 3) });
        for (int i = 0; i < 3; i++)
        {
            using var single = model.Run(px[i..(i + 1)], new ClipRunOptions { DetailLayers = (1, 3) });
            Assert.True(MaxAbs(single.ImageEmbeds, batch.ImageEmbeds[i..(i + 1)]) < 1e-6);
            Assert.True(MaxAbs(single.VdTokens, batch.VdTokens[i..(i + 1)]) < 1e-6);
            Assert.True(MaxAbs(single.DetailMean!, batch.DetailMean![i..(i + 1)]) < 1e-6);
        }
    }

    [Fact]
    public void PreprocessingOfInputPngEqualsPixelValues()
    {
        var proc = ClipImageProcessor.FromFolder(Dir);
        var img = ImageIO.Read(Path.Combine(Dir, "input.png"));
        Assert.Equal((53, 41), (img.Width, img.Height));
        var px = proc.Preprocess(img).unsqueeze(0);
        Assert.True(MaxAbs(px, Golden["pixel_values"]) < 2e-6, $"max abs diff {MaxAbs(px, Golden["pixel_values"])}");
    }

    [Fact]
    public void ImageEmbedsFromInputPngMatch()
    {
        using var model = ClipVisionModel.FromPretrained(Dir);
        var proc = ClipImageProcessor.FromFolder(Dir);
        var px = proc.Preprocess(ImageIO.Read(Path.Combine(Dir, "input.png"))).unsqueeze(0);
        using var o = model.Run(px, new ClipRunOptions());
        Assert.True(MaxAbs(o.ImageEmbeds, Golden["image_embeds"]) < 1e-5);
    }
}

public class ClipPropagateTests
{
    [Fact]
    public void PropagatingAHiddenStateReproducesVdTokens()
    {
        string dir = TestPaths.Golden("clip-vit-tiny");
        var g = SafeTensors.Load(Path.Combine(dir, "golden.safetensors"));
        using var model = ClipVisionModel.FromPretrained(dir);
        var vd = model.PropagateToVdTokens(g["hidden_states.3"], 3);
        Assert.True(ClipGoldenTests.MaxAbs(vd, g["vd_tokens"]) < 1e-5);
        Assert.True(ClipGoldenTests.MaxAbs(model.PropagateToVdTokens(g["hidden_states.6"], 6), g["vd_tokens"]) < 1e-5);
    }
}

public class ClipMemoryTests
{
    [Fact]
    public void RunLeavesNoLiveTensorsBehindOnceOutputsAreDisposed()
    {
        string dir = TestPaths.Golden("clip-vit-tiny");
        using var model = ClipVisionModel.FromPretrained(dir);
        using var px = randn(2, 3, 32, 32);
        using (var warm = model.Run(px, new ClipRunOptions { DetailLayers = (2, 4), HiddenStates = [1, 6] })) { }
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++)
        {
            using var o = model.Run(px, new ClipRunOptions { DetailLayers = (2, 4), HiddenStates = [1, 6] });
            Assert.Equal(2, o.HiddenStates.Count);
        }
        Assert.Equal(before, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
