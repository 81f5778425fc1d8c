using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Parity;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Features;

/// <summary>
/// A CLIPModel-style checkpoint with other shapes (float16 weights, text keys, gelu, eps 1e-6, resize 56 / crop 48,
/// portrait input), against a float64 reference made by tests/fixtures-gen/clip_fixtures.py; and the loader's errors.
/// </summary>
public class ClipCheckpointTests
{
    static string Dir => TestPaths.Fixture("clip/clipmodel");
    static string GoldenDir => TestPaths.Golden("clip-vit-tiny");

    [Fact]
    public void ClipModelCheckpointLoadsAndMatchesReference()
    {
        var g = SafeTensors.Load(Path.Combine(Dir, "golden.safetensors"));
        using var model = ClipVisionModel.FromPretrained(Dir);
        var c = model.Config;
        Assert.Equal((96, 3, 3, 48, 16, 40, "gelu", 1e-6),
            (c.HiddenSize, c.NumAttentionHeads, c.NumHiddenLayers, c.ImageSize, c.PatchSize, c.ProjectionDim,
            c.HiddenAct, c.LayerNormEps));

        var inputs = new Dictionary<string, Tensor>
        { ["pixel_values"] = g["pixel_values"], ["pixel_values_batch"] = g["pixel_values_batch"] };
        var outputs = new Dictionary<string, Tensor>();
        new ClipVisionParity().Run(Dir, inputs, outputs, new ParityOptions { DetailLayers = "1-2" });
        foreach (var name in g.Keys.Where(k => !k.StartsWith("pixel_values")))
            Assert.True(ClipGoldenTests.MaxAbs(outputs[name], g[name]) < 1e-5,
                $"{name}: {ClipGoldenTests.MaxAbs(outputs[name], g[name])}");
        Assert.Equal(g.Keys.Count(k => !k.StartsWith("pixel_values")), outputs.Count);
    }

    [Fact]
    public void PortraitPreprocessingWithLargerResizeThanCropIsExact()
    {
        var g = SafeTensors.Load(Path.Combine(Dir, "golden.safetensors"));
        var proc = ClipImageProcessor.FromFolder(Dir);
        Assert.Equal((56, 48, 48), (proc.ShortestEdge, proc.CropHeight, proc.CropWidth));
        var px = proc.Preprocess(ImageIO.Read(TestPaths.Fixture("clip/portrait.png"))).unsqueeze(0);
        Assert.True(ClipGoldenTests.MaxAbs(px, g["pixel_values"]) < 2e-6);
        // The float (tensor) path: within about one 8-bit level of the byte path after a resize, equal without one.
        var proc48 = proc with { ShortestEdge = 48 };
        var img = ImageIO.Read(TestPaths.Fixture("clip/portrait.png"));
        var crop = new RgbImage(37, 48);
        for (int y = 0; y < 48; y++) for (int x = 0; x < 37; x++) for (int ch = 0; ch < 3; ch++) crop[y, x, ch] = img[y,
            x, ch];
        var bytes = proc48.Preprocess(crop);
        var asFloat = tensor(crop.Pixels, [48, 37, 3]).permute(2, 0, 1).unsqueeze(0).to_type(ScalarType.Float32) / 255f;
        var viaTensor = proc48.PreprocessBatch(asFloat);
        Assert.Equal(new long[] { 1, 3, 48, 48 }, viaTensor.shape); // upscaled: 37 -> 48, 48 -> int(48*48/37)=62, crop
        double floatVsBytes = ClipGoldenTests.MaxAbs(viaTensor[0], bytes);
        // one 8-bit level is 1/255/0.26 = 0.015
        Assert.True(floatVsBytes < 0.03, $"float path differs by {floatVsBytes}");
        var square = new RgbImage(48, 48);
        for (int y = 0; y < 48; y++) for (int x = 0; x < 37; x++) for (int ch = 0; ch < 3; ch++) square[y, x,
            ch] = img[y, x, ch];
        var sq = tensor(square.Pixels, [48, 48, 3]).permute(2, 0, 1).unsqueeze(0).to_type(ScalarType.Float32) / 255f;
        Assert.True(ClipGoldenTests.MaxAbs(proc48.PreprocessBatch(sq)[0], proc48.Preprocess(square)) < 1e-6);
    }

    [Fact]
    public void PillowResizeIsByteExactForEveryFilter()
    {
        var cases = SafeTensors.Load(TestPaths.Fixture("clip/resize.safetensors"));
        int checkedCount = 0;
        foreach (var (name, expected) in cases.Where(kv => kv.Key.StartsWith("out_")))
        {
            var parts = name.Split('_'); // out, SRC, TGT, filter
            var src = cases[$"src_{parts[1]}"];
            var tw = int.Parse(parts[2].Split('x')[0]); var th = int.Parse(parts[2].Split('x')[1]);
            var img = new RgbImage((int)src.shape[1], (int)src.shape[0], src.data<byte>().ToArray());
            var filter = Enum.Parse<PillowFilter>(parts[3], ignoreCase: true);
            var got = PillowResize.Resize(img, tw, th, filter);
            var want = expected.data<byte>().ToArray();
            int diff = got.Pixels.Zip(want).Count(p => p.First != p.Second);
            Assert.True(diff == 0, $"{name}: {diff} of {want.Length} bytes differ");
            checkedCount++;
        }
        Assert.Equal(72, checkedCount);
    }

    static string CopyGolden(TempDir dir)
    {
        string d = Path.Combine(dir.Path, "ckpt");
        Directory.CreateDirectory(d);
        foreach (var f in new[] { "config.json", "model.safetensors", "preprocessor_config.json" })
            File.Copy(Path.Combine(GoldenDir, f), Path.Combine(d, f));
        return d;
    }

    static void RewriteWeights(string folder, Action<Dictionary<string, Tensor>> edit)
    {
        string p = Path.Combine(folder, "model.safetensors");
        var t = SafeTensors.Load(p);
        edit(t);
        SafeTensors.Save(p, t);
    }

    [Fact]
    public void MissingUnexpectedAndMisshapedKeysAreNamed()
    {
        using var dir = new TempDir();
        string d = CopyGolden(dir);
        RewriteWeights(d, t => t.Remove("vision_model.encoder.layers.3.mlp.fc1.bias"));
        var e = Assert.Throws<UserInputException>(() => ClipVisionModel.FromPretrained(d));
        Assert.Contains("missing key 'vision_model.encoder.layers.3.mlp.fc1.bias'", e.Message);

        using var dir2 = new TempDir();
        d = CopyGolden(dir2);
        RewriteWeights(d, t => t["vision_model.encoder.layers.0.self_attn.q_proj.weight"] = zeros(64, 32));
        e = Assert.Throws<UserInputException>(() => ClipVisionModel.FromPretrained(d));
        Assert.Contains(
            "'vision_model.encoder.layers.0.self_attn.q_proj.weight' has shape [64,32] in the file but the config " +
            "needs [64,64]", e.Message);

        using var dir3 = new TempDir();
        d = CopyGolden(dir3);
        RewriteWeights(d, t => t["vision_model.encoder.layers.6.mlp.fc1.bias"] = zeros(256));
        e = Assert.Throws<UserInputException>(() => ClipVisionModel.FromPretrained(d));
        Assert.Contains("unexpected key 'vision_model.encoder.layers.6.mlp.fc1.bias'", e.Message);
    }

    [Fact]
    public void ShardedCheckpointWithIndexLoads()
    {
        using var dir = new TempDir();
        string d = CopyGolden(dir);
        string single = Path.Combine(d, "model.safetensors");
        var all = SafeTensors.Load(single);
        File.Delete(single);
        var keys = all.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new JsonObject();
        for (int part = 0; part < 2; part++)
        {
            string file = $"model-0000{part + 1}-of-00002.safetensors";
            var chunk = keys.Where((_, i) => i % 2 == part).ToDictionary(k => k, k => all[k]);
            SafeTensors.Save(Path.Combine(d, file), chunk);
            foreach (var k in chunk.Keys) map[k] = file;
        }
        File.WriteAllText(Path.Combine(d, "model.safetensors.index.json"),
            new JsonObject { ["weight_map"] = map }.ToJsonString());
        using var model = ClipVisionModel.FromPretrained(d);
        var g = SafeTensors.Load(Path.Combine(GoldenDir, "golden.safetensors"));
        using var o = model.Run(g["pixel_values"], new ClipRunOptions());
        Assert.True(ClipGoldenTests.MaxAbs(o.ImageEmbeds, g["image_embeds"]) < 1e-5);
    }

    [Theory]
    [InlineData("hidden_act", "\"relu\"", "hidden_act")]
    [InlineData("hidden_size", "\"big\"", "hidden_size")]
    [InlineData("num_attention_heads", "5", "hidden_size")]
    [InlineData("patch_size", "7", "image_size")]
    [InlineData("layer_norm_eps", "-1", "layer_norm_eps")]
    [InlineData("model_type", "\"bert\"", "model_type")]
    public void BadConfigFieldIsNamed(string field, string json, string named)
    {
        using var dir = new TempDir();
        string d = CopyGolden(dir);
        string p = Path.Combine(d, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
        o[field] = JsonNode.Parse(json);
        File.WriteAllText(p, o.ToJsonString());
        var e = Assert.Throws<UserInputException>(() => ClipVisionModel.FromPretrained(d));
        Assert.Contains($"'{named}'", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void DefaultDetailLayersScaleWithDepth()
    {
        Assert.Equal((11, 20), ClipVisionConfig.Preset("vit-l-14").DefaultDetailLayers);
        Assert.Equal((6, 10), ClipVisionConfig.Preset("tiny").DefaultDetailLayers);
        Assert.Equal((3, 5), new ClipVisionConfig { NumHiddenLayers = 6 }.DefaultDetailLayers);
        Assert.Throws<UserInputException>(() => ClipRunOptions.ParseLayerRange("3-25", 24));
        Assert.Equal((4, 4), ClipRunOptions.ParseLayerRange("4", 24));
    }

    [Fact]
    public void RandomCheckpointIsSeededAndLoadable()
    {
        using var dir = new TempDir();
        var cfg = new ClipVisionConfig
        {
            HiddenSize = 32,
            IntermediateSize = 64,
            NumAttentionHeads = 2,
            NumHiddenLayers = 2,
            ImageSize = 16,
            PatchSize = 8,
            ProjectionDim = 8
        };
        string a = Path.Combine(dir.Path, "a"), b = Path.Combine(dir.Path, "b"), c = Path.Combine(dir.Path, "c");
        ClipCheckpointFactory.CreateRandom(a, cfg, 3);
        ClipCheckpointFactory.CreateRandom(b, cfg, 3);
        ClipCheckpointFactory.CreateRandom(c, cfg, 4);
        var fa = File.ReadAllBytes(Path.Combine(a, "model.safetensors"));
        Assert.Equal(fa, File.ReadAllBytes(Path.Combine(b, "model.safetensors")));
        Assert.NotEqual(fa, File.ReadAllBytes(Path.Combine(c, "model.safetensors")));
        using var m = ClipVisionModel.FromPretrained(a);
        Assert.Equal(cfg with { }, m.Config);
        Assert.Equal(16, ClipImageProcessor.FromFolder(a).CropHeight);
        using var o = m.Run(randn(2, 3, 16, 16), new ClipRunOptions { DetailLayers = (1, 2) });
        Assert.Equal(new long[] { 2, 5, 8 }, o.VdTokens.shape);
        Assert.Equal(1.0, o.VdTokens[1, 0].norm().item<float>(), 4);
    }
}
