namespace BrainMClip.Simulation;

/// <summary>How many objects a scene holds and how large they are (side of the object frame, image fraction).</summary>
public sealed record WorldSceneOptions
{
    public int MinObjects { get; init; } = 1;
    public int MaxObjects { get; init; } = 3;
    /// <summary>Scale range of the object of a one-object scene.</summary>
    public double SingleScaleMin { get; init; } = 0.3;
    public double SingleScaleMax { get; init; } = 0.6;
    /// <summary>Scale range of each object of a scene with two or more objects.</summary>
    public double MultiScaleMin { get; init; } = 0.25;
    public double MultiScaleMax { get; init; } = 0.45;

    /// <summary>Exactly one object per scene (a curriculum's first stage).</summary>
    public static WorldSceneOptions SingleObject { get; } = new() { MinObjects = 1, MaxObjects = 1 };

    public void Validate()
    {
        if (MinObjects < 1 || MaxObjects > 3 || MinObjects > MaxObjects)
            throw new UserInputException(
                $"objects per scene {MinObjects}..{MaxObjects}: expected 1 <= min <= max <= 3");
        if (!(SingleScaleMin > 0 && SingleScaleMin <= SingleScaleMax && SingleScaleMax <= 1
              && MultiScaleMin > 0 && MultiScaleMin <= MultiScaleMax && MultiScaleMax <= 1))
            throw new UserInputException("object scale ranges must satisfy 0 < min <= max <= 1");
    }
}

/// <summary>
/// Draws scenes of the hierarchical world. A scene is a pure function of (seed, index, options): any image of a
/// dataset can be drawn alone, in any order, on any thread.
/// </summary>
public static class WorldSampler
{
    /// <summary>Scene <paramref name="index"/> of the stream <paramref name="seed"/>.</summary>
    public static WorldScene Sample(int seed, long index, WorldSceneOptions? options = null)
    {
        var o = options ?? new WorldSceneOptions();
        var r = WorldRng.For(seed, index);
        var bg = Background(r);
        int count = o.MinObjects + r.Next(o.MaxObjects - o.MinObjects + 1);
        var objs = new WorldObject[count];
        for (int j = 0; j < count; j++)
        {
            double scale = count == 1 ? r.Uniform(o.SingleScaleMin, o.SingleScaleMax)
                                      : r.Uniform(o.MultiScaleMin, o.MultiScaleMax);
            var (x, y) = Place(r, scale, objs.AsSpan(0, j));
            var fam = (WorldFamily)r.Next(WorldScene.Families);
            var attrs = new double[WorldScene.AttributesPerFamily];
            for (int a = 0; a < attrs.Length; a++) attrs[a] = r.NextDouble();
            double maxTilt = fam switch
            {
                WorldFamily.Face => 0.45,
                WorldFamily.Body => 0.5,
                WorldFamily.Place => 0.2,
                _ => 0.35,
            };
            double rot = r.Uniform(-maxTilt, maxTilt);
            objs[j] = new WorldObject(fam, attrs, x, y, scale, rot, ObjectColor(r, bg.Color), r.NextULong());
        }
        return new WorldScene(seed, index, bg, objs);
    }

    /// <summary>A centre keeping the frame inside the image, preferring little overlap with earlier objects.</summary>
    static (double X, double Y) Place(WorldRng r, double scale, ReadOnlySpan<WorldObject> earlier)
    {
        double lo = scale / 2, hi = 1 - scale / 2;
        (double, double) best = (0.5, 0.5);
        double bestGap = double.NegativeInfinity;
        for (int t = 0; t < 12; t++)
        {
            double x = r.Uniform(lo, hi), y = r.Uniform(lo, hi);
            double gap = double.PositiveInfinity;
            foreach (var e in earlier)
            {
                double d = Math.Max(Math.Abs(x - e.X), Math.Abs(y - e.Y)) - 0.5 * (scale + e.Scale);
                gap = Math.Min(gap, d);
            }
            if (gap > bestGap) { bestGap = gap; best = (x, y); }
            if (gap >= 0) break;
        }
        return best;
    }

    static WorldBackground Background(WorldRng r)
    {
        double[] Muted(double v)
        {
            double h = r.NextDouble(), s = r.Uniform(0.05, 0.45);
            return Hsv(h, s, v);
        }
        double val = r.Uniform(0.2, 0.8);
        var c1 = Muted(val);
        var c2 = Muted(Math.Clamp(val + r.Uniform(-0.2, 0.2), 0.1, 0.9));
        int ng = 1 + r.Next(2);
        var gratings = new WorldGrating[ng];
        for (int g = 0; g < ng; g++)
        {
            double amp = r.Uniform(0.02, 0.1);
            // Mostly luminance texture with some colour: a shared amplitude plus a small per-channel part.
            var a = new double[3];
            for (int c = 0; c < 3; c++) a[c] = amp * (0.7 + r.Uniform(-0.3, 0.3));
            gratings[g] = new WorldGrating(r.Uniform(1, 7), r.Uniform(0, Math.PI), r.Uniform(0, 2 * Math.PI), a);
        }
        bool checker = r.NextDouble() < 0.3;
        return new WorldBackground(c1, c2, r.Uniform(0, 2 * Math.PI), gratings,
            checker ? r.Uniform(2, 8) : 0, checker ? r.Uniform(0.03, 0.1) : 0);
    }

    /// <summary>A saturated colour visibly different from the background (max channel difference ≥ 0.35).</summary>
    static double[] ObjectColor(WorldRng r, double[] bg)
    {
        double[] col = Hsv(r.NextDouble(), r.Uniform(0.35, 1), r.Uniform(0.4, 1));
        for (int t = 0; t < 20 && Enumerable.Range(0, 3).Max(c => Math.Abs(col[c] - bg[c])) < 0.35; t++)
            col = Hsv(r.NextDouble(), r.Uniform(0.35, 1), r.Uniform(0.1, 1));
        return col;
    }

    internal static double[] Hsv(double h, double s, double v)
    {
        double h6 = (h - Math.Floor(h)) * 6;
        int i = (int)h6 % 6;
        double f = h6 - Math.Floor(h6), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
        return i switch
        {
            0 => [v, t, p],
            1 => [q, v, p],
            2 => [p, v, t],
            3 => [p, q, v],
            4 => [t, p, v],
            _ => [v, p, q],
        };
    }
}
