using BrainMClip.IO;
using BrainMClip.Simulation;
using Xunit;

namespace BrainMClip.Tests.Simulation;

/// <summary>
/// The hierarchical world's scene sampler and renderer: determinism, object counts and sizes, captions.
/// </summary>
public class WorldTests
{
    [Fact]
    public void SceneAndImageArePureFunctionsOfSeedAndIndex()
    {
        var a = WorldSampler.Sample(5, 123);
        var b = WorldSampler.Sample(5, 123);
        Assert.Equal(a.Caption(), b.Caption());
        Assert.Equal(WorldRenderer.Render(a, 64), WorldRenderer.Render(b, 64));
        // Another index or seed gives another scene.
        Assert.NotEqual(WorldRenderer.Render(a, 64), WorldRenderer.Render(WorldSampler.Sample(5, 124), 64));
        Assert.NotEqual(WorldRenderer.Render(a, 64), WorldRenderer.Render(WorldSampler.Sample(6, 123), 64));
        // Pinned reference values: a change of the world must be deliberate (it changes every dataset).
        var s = WorldSampler.Sample(0, 0);
        Assert.Equal(0.13870941014555427, WorldRng.For(0, 0).NextDouble(), 12);
        Assert.Equal(s.Objects.Length, WorldSampler.Sample(0, 0).Objects.Length);
    }

    [Fact]
    public void CountsFamiliesAndScalesFollowTheOptions()
    {
        var famCount = new int[4];
        var sizes = new int[4];
        for (int i = 0; i < 400; i++)
        {
            var s = WorldSampler.Sample(1, i);
            Assert.InRange(s.Objects.Length, 1, 3);
            sizes[s.Objects.Length]++;
            foreach (var o in s.Objects)
            {
                famCount[(int)o.Family]++;
                Assert.All(o.Attributes, x => Assert.InRange(x, 0.0, 1.0));
                Assert.InRange(o.Scale, 0.25, s.Objects.Length == 1 ? 0.6 : 0.45);
                Assert.InRange(o.X, o.Scale / 2, 1 - o.Scale / 2);
            }
            var one = WorldSampler.Sample(1, i, WorldSceneOptions.SingleObject);
            Assert.Single(one.Objects);
            Assert.InRange(one.Objects[0].Scale, 0.3, 0.6);
        }
        // Every family and every object count occurs with roughly equal frequency.
        Assert.All(famCount, c => Assert.InRange(c, 150, 250));
        Assert.All(sizes.Skip(1), c => Assert.InRange(c, 100, 170));
    }

    [Fact]
    public void CaptionHoldsFamiliesAndPooledAttributes()
    {
        for (int i = 0; i < 50; i++)
        {
            var s = WorldSampler.Sample(2, i);
            var cap = s.Caption();
            Assert.Equal(WorldScene.CaptionLength, cap.Length);
            for (int f = 0; f < 4; f++)
            {
                var objs = s.Objects.Where(o => (int)o.Family == f).ToArray();
                Assert.Equal(objs.Length > 0 ? 1f : 0f, cap[f]);
                for (int a = 0; a < 4; a++)
                {
                    double want = objs.Length == 0 ? 0 : objs.Average(o => 2 * o.Attributes[a] - 1);
                    Assert.Equal(want, cap[4 + 4 * f + a], 1e-5);
                }
            }
        }
    }

    [Fact]
    public void ObjectsChangeThePixelsTheyCover()
    {
        // A single large object: pixels at its centre differ from the same scene without it.
        for (int i = 0; i < 20; i++)
        {
            var s = WorldSampler.Sample(3, i, WorldSceneOptions.SingleObject);
            var empty = s with { Objects = [] };
            var img = WorldRenderer.Render(s, 64);
            var bg = WorldRenderer.Render(empty, 64);
            int changed = 0;
            for (int p = 0; p < 64 * 64; p++)
            {
                int d = 0;
                for (int c = 0; c < 3; c++) d += Math.Abs(img[3 * p + c] - bg[3 * p + c]);
                if (d > 30) changed++;
            }
            double frac = changed / 4096.0, area = s.Objects[0].Scale * s.Objects[0].Scale;
            // Parts cover a good share of the frame (glyph strings the least) and nothing far outside it.
            Assert.InRange(frac, 0.04 * area, 1.2 * area);
        }
    }

    /// <summary>
    /// Writes a contact sheet of 4×8 scenes (seed 0; top two rows one object, bottom two 1–3) to
    /// $BRAINMCLIP_WORLD_SHEET when that is set (visual check; docs/simulation-scenes.png was made this way).
    /// </summary>
    [Fact]
    public void ContactSheetOnRequest()
    {
        string? path = Environment.GetEnvironmentVariable("BRAINMCLIP_WORLD_SHEET");
        if (string.IsNullOrEmpty(path)) return;
        const int S = 64, G = 8, Rows = 4;
        var sheet = new RgbImage(S * G, S * Rows);
        for (int i = 0; i < G * Rows; i++)
        {
            var img = WorldRenderer.Render(WorldSampler.Sample(0, i, i < 16 ? WorldSceneOptions.SingleObject : null),
                S);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    for (int c = 0; c < 3; c++) sheet[(i / G) * S + y, (i % G) * S + x, c] = img[(y * S + x) * 3 + c];
        }
        ImageIO.WritePng(path, sheet);
    }
}
