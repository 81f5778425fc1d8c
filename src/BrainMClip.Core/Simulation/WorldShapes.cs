namespace BrainMClip.Simulation;

/// <summary>Kinds of <see cref="WorldPart"/>.</summary>
public enum WorldPartKind : byte { Ellipse, Box, Capsule, Triangle }

/// <summary>
/// One primitive of an object in its frame ([−1, 1]², y down) with a colour slot (0 primary, 1 contrasting detail,
/// 2 accent). Parameters: Ellipse (cx, cy, rx, ry), Box (cx, cy, half-width, half-height), Capsule (ax, ay, bx, by,
/// radius), Triangle (x0, y0, x1, y1, x2, y2).
/// </summary>
public readonly record struct WorldPart(WorldPartKind Kind, int Slot, double A, double B, double C, double D,
    double E = 0, double F = 0)
{
    /// <summary>
    /// Signed distance (negative inside) in frame units; exact for boxes and capsules, close for the rest.
    /// </summary>
    public double Distance(double u, double v)
    {
        switch (Kind)
        {
            case WorldPartKind.Ellipse:
            {
                double px = (u - A) / C, py = (v - B) / D;
                return (Math.Sqrt(px * px + py * py) - 1) * Math.Min(C, D);
            }
            case WorldPartKind.Box:
            {
                double qx = Math.Abs(u - A) - C, qy = Math.Abs(v - B) - D;
                double ox = Math.Max(qx, 0), oy = Math.Max(qy, 0);
                return Math.Sqrt(ox * ox + oy * oy) + Math.Min(Math.Max(qx, qy), 0);
            }
            case WorldPartKind.Capsule:
            {
                double pax = u - A, pay = v - B, bax = C - A, bay = D - B;
                double l2 = bax * bax + bay * bay;
                double h = l2 > 0 ? Math.Clamp((pax * bax + pay * bay) / l2, 0, 1) : 0;
                double ex = pax - bax * h, ey = pay - bay * h;
                return Math.Sqrt(ex * ex + ey * ey) - E;
            }
            default:
            {
                // Max of the signed distances to the three edge lines (orientation-independent).
                double s = Math.Sign((C - A) * (F - B) - (D - B) * (E - A));
                return Math.Max(Edge(u, v, A, B, C, D, s), Math.Max(Edge(u, v, C, D, E, F, s), Edge(u, v, E, F, A, B,
                    s)));
            }
        }
    }

    static double Edge(double u, double v, double ax, double ay, double bx, double by, double s)
    {
        double ex = bx - ax, ey = by - ay, len = Math.Sqrt(ex * ex + ey * ey);
        return len > 0 ? s * ((u - ax) * ey - (v - ay) * ex) / len : double.NegativeInfinity;
    }
}

/// <summary>
/// The parts of each family as functions of its attributes (see <see cref="WorldScene.AttributeNames"/>).
/// </summary>
public static class WorldShapes
{
    /// <summary>
    /// Colours of slots 0 (primary), 1 (contrasting detail: dark on light objects, light on dark), 2 (accent).
    /// </summary>
    public static double[][] SlotColors(double[] p)
    {
        double lum = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        var detail = lum > 0.45 ? p.Select(c => 0.18 * c).ToArray() : p.Select(c => 0.3 * c + 0.7).ToArray();
        var accent = p.Select((c, i) => 0.55 * c + 0.45 * detail[i]).ToArray();
        return [p, detail, accent];
    }

    /// <summary>The object's parts, drawn in order (later parts cover earlier ones).</summary>
    public static WorldPart[] Parts(WorldObject o) => o.Family switch
    {
        WorldFamily.Face => Face(o.Attributes),
        WorldFamily.Body => Body(o.Attributes),
        WorldFamily.Place => Place(o.Attributes),
        _ => Word(o.Attributes, o.Variant),
    };

    static WorldPart[] Face(double[] a)
    {
        double rx = 0.5 + 0.35 * a[0], ex = 0.16 + 0.2 * a[1] * rx / 0.85, er = 0.07 + 0.09 * a[2];
        double mw = 0.12 + 0.25 * a[3], mh = 0.04 + 0.1 * a[3];
        return
        [
            new(WorldPartKind.Ellipse, 0, 0, 0.02, rx, 0.92),
            new(WorldPartKind.Ellipse, 1, -ex, -0.2, er, er * 1.15),
            new(WorldPartKind.Ellipse, 1, ex, -0.2, er, er * 1.15),
            new(WorldPartKind.Capsule, 2, 0, -0.08, 0, 0.16, 0.045),
            new(WorldPartKind.Ellipse, 1, 0, 0.45, mw, mh),
        ];
    }

    static WorldPart[] Body(double[] a)
    {
        double phi = (20 + 140 * a[0]) * Math.PI / 180, arm = 0.55, spread = 0.08 + 0.42 * a[1];
        double torso = 0.12 + 0.14 * a[2], limb = 0.06 + 0.07 * a[3];
        double shx = 0, shy = -0.42, hx = arm * Math.Sin(phi), hy = arm * Math.Cos(phi);
        return
        [
            new(WorldPartKind.Capsule, 0, shx, shy, -hx, shy + hy, limb),
            new(WorldPartKind.Capsule, 0, shx, shy, hx, shy + hy, limb),
            new(WorldPartKind.Capsule, 0, 0, 0.15, -spread, 0.93, limb),
            new(WorldPartKind.Capsule, 0, 0, 0.15, spread, 0.93, limb),
            new(WorldPartKind.Capsule, 0, 0, -0.45, 0, 0.15, torso),
            new(WorldPartKind.Ellipse, 0, 0, -0.74, 0.17, 0.19),
        ];
    }

    static WorldPart[] Place(double[] a)
    {
        double w = 0.5 + 0.4 * a[0], roof = 0.15 + 0.45 * a[1], top = -0.95 + roof, bottom = 0.95;
        int cols = 2 + (int)Math.Round(3 * a[2]), rows = 1 + (int)Math.Round(2 * a[2]);
        double door = 0.2 + 0.4 * a[3];
        var parts = new List<WorldPart>
        {
            new(WorldPartKind.Box, 0, 0, (top + bottom) / 2, w, (bottom - top) / 2),
            new(WorldPartKind.Triangle, 2, -w - 0.08, top, w + 0.08, top, 0, -0.95),
        };
        // Windows fill the facade above the door in a cols × rows grid.
        double wTop = top + 0.1, wBottom = bottom - door - 0.08;
        double cellW = 2 * w / cols, cellH = Math.Max(0.05, (wBottom - wTop) / rows);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                parts.Add(new(WorldPartKind.Box, 1, -w + (c + 0.5) * cellW, wTop + (r + 0.5) * cellH,
                    0.3 * cellW, Math.Min(0.3 * cellH, 0.3 * cellW * 1.4)));
        parts.Add(new(WorldPartKind.Box, 1, 0, bottom - door / 2, 0.09 + 0.05 * w, door / 2));
        return parts.ToArray();
    }

    /// <summary>Glyph templates: strokes between points of a 3×3 lattice (x, y in 0..2, y down).</summary>
    static readonly double[][] Glyphs =
    [
        [0, 0, 0, 2, 0, 2, 2, 2],                    // L
        [0, 0, 2, 0, 1, 0, 1, 2],                    // T
        [0, 0, 0, 2, 2, 0, 2, 2, 0, 1, 2, 1],        // H
        [0, 2, 0, 0, 0, 0, 2, 2, 2, 2, 2, 0],        // N
        [0, 0, 1, 2, 1, 2, 2, 0],                    // V
        [0, 0, 2, 2, 2, 0, 0, 2],                    // X
        [0, 0, 0, 2, 0, 0, 2, 0, 0, 1, 1.5, 1, 0, 2, 2, 2], // E
        [0, 0, 2, 0, 2, 0, 0, 2, 0, 2, 2, 2],        // Z
        [0, 2, 1, 0, 1, 0, 2, 2, 0.5, 1, 1.5, 1],    // A
        [0, 0, 0, 2, 0, 2, 2, 2, 2, 2, 2, 0],        // U
        [0, 0, 0, 2, 2, 0, 0, 1, 0, 1, 2, 2],        // K
        [0, 0, 1, 1, 2, 0, 1, 1, 1, 1, 1, 2],        // Y
    ];

    static WorldPart[] Word(double[] a, ulong variant)
    {
        int n = 2 + (int)Math.Round(3 * a[0]);
        double width = 1.8, cw = width / n, gw = 0.7 * cw, gh = Math.Min(1.6, gw * (1.2 + 1.2 * a[3]));
        double stroke = gw * (0.07 + 0.09 * a[1]), slant = (a[2] - 0.5) * 0.8;
        var r = new WorldRng(variant);
        var parts = new List<WorldPart>();
        for (int g = 0; g < n; g++)
        {
            var t = Glyphs[r.Next(Glyphs.Length)];
            double left = -width / 2 + g * cw + (cw - gw) / 2;
            for (int s = 0; s + 3 < t.Length; s += 4)
            {
                // Lattice → frame; the shear x += slant·(−y) leans the glyph tops right for slant > 0.
                double ay = -gh / 2 + t[s + 1] / 2 * gh, by = -gh / 2 + t[s + 3] / 2 * gh;
                double ax = left + t[s] / 2 * gw - slant * ay, bx = left + t[s + 2] / 2 * gw - slant * by;
                parts.Add(new(WorldPartKind.Capsule, 0, ax, ay, bx, by, stroke));
            }
        }
        return parts.ToArray();
    }
}
