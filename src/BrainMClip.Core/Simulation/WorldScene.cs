using BrainMClip.Data;
namespace BrainMClip.Simulation;

/// <summary>
/// The four object families of the hierarchical world. Their order is the order of <see cref="NsdRois.FlocMasks"/>
/// (faces, bodies, places, words), so family f is the preferred category of floc mask f.
/// </summary>
public enum WorldFamily { Face = 0, Body = 1, Place = 2, Word = 3 }

/// <summary>
/// One object of a scene. <paramref name="Attributes"/> are the family's continuous within-category shape parameters,
/// each in [0, 1] (their meaning per family: <see cref="WorldScene.AttributeNames"/>). Position (X, Y: centre, image
/// fractions, x right, y down), Scale (side of the object's square frame, image fraction), Rotation (radians) and
/// Color (RGB 0..1) are the nuisance/pose parameters; Variant seeds details that carry no attribute (glyph identities).
/// </summary>
public sealed record WorldObject(WorldFamily Family, double[] Attributes, double X, double Y, double Scale,
    double Rotation, double[] Color, ulong Variant);

/// <summary>
/// One sinusoidal grating of a background texture: cycles per image, orientation, phase, per-channel amplitude.
/// </summary>
public sealed record WorldGrating(double Frequency, double Orientation, double Phase, double[] Amplitude);

/// <summary>
/// A textured background: a base colour, a linear colour gradient towards <paramref name="Color2"/> along
/// <paramref name="GradientAngle"/>, gratings, and an optional checker (product of two gratings, amplitude 0 = none).
/// </summary>
public sealed record WorldBackground(double[] Color, double[] Color2, double GradientAngle, WorldGrating[] Gratings,
    double CheckerFrequency, double CheckerAmplitude);

/// <summary>
/// A scene of the hierarchical world: a background and 1–3 objects drawn back to front. <see cref="Caption"/> is its
/// fixed-length symbolic description for contrastive or supervised objectives.
/// </summary>
public sealed record WorldScene(int Seed, long Index, WorldBackground Background, WorldObject[] Objects)
{
    public const int Families = 4;
    public const int AttributesPerFamily = 4;

    /// <summary>
    /// Length of <see cref="Caption"/>: family multi-hot (4) then per-family pooled attributes (4 × 4).
    /// </summary>
    public const int CaptionLength = Families + Families * AttributesPerFamily;

    public static readonly string[] FamilyNames = ["face", "body", "place", "word"];

    /// <summary>What each attribute of a family controls (0 → 1).</summary>
    public static readonly IReadOnlyDictionary<WorldFamily, string[]> AttributeNames =
        new Dictionary<WorldFamily, string[]>
        {
            [WorldFamily.Face] = ["head width", "eye spacing", "eye size", "mouth size"],
            [WorldFamily.Body] = ["arms raised", "leg spread", "torso width", "limb thickness"],
            [WorldFamily.Place] = ["building width", "roof height", "window density", "door height"],
            [WorldFamily.Word] = ["glyph count", "stroke thickness", "slant", "glyph height"],
        };

    /// <summary>Objects per family (length 4).</summary>
    public int[] FamilyCounts()
    {
        var c = new int[Families];
        foreach (var o in Objects) c[(int)o.Family]++;
        return c;
    }

    /// <summary>
    /// The scene's "caption", length <see cref="CaptionLength"/>: [0..4) 1 where the family is present, else 0;
    /// then for each family f the mean over its objects of (2·attribute − 1), in [−1, 1], 0 when f is absent.
    /// Position, scale, rotation, colour and background are deliberately left out: the caption names what is in the
    /// image and what those things look like, not where they are.
    /// </summary>
    public float[] Caption()
    {
        var cap = new float[CaptionLength];
        var counts = FamilyCounts();
        for (int f = 0; f < Families; f++) cap[f] = counts[f] > 0 ? 1f : 0f;
        foreach (var o in Objects)
        {
            int f = (int)o.Family;
            for (int a = 0; a < AttributesPerFamily; a++)
                cap[Families + f * AttributesPerFamily + a] += (float)((2 * o.Attributes[a] - 1) / counts[f]);
        }
        return cap;
    }
}
