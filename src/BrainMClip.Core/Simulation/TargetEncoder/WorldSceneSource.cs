using BrainMClip.IO;
using BrainMClip.Simulation;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>
/// Training scenes from the hierarchical world (<see cref="WorldSampler"/>, <see cref="WorldRenderer"/>): caption and
/// labels are <see cref="WorldScene.Caption"/> (family multi-hot + per-family attributes; no position, size or colour).
/// The world stream is <see cref="SeedOffset"/> + the training seed, far from the small seeds <c>synth</c> uses for its
/// subjects, so the encoder never trains on a subject's stimuli.
/// </summary>
public sealed class WorldSceneSource : IClipSceneSource
{
    public const int SeedOffset = 1_500_000_000;
    public const int MaxTrainSeed = int.MaxValue - SeedOffset;

    /// <summary>The one-object curriculum scenes of <c>clip-train</c> by default: large objects (half the image and
    /// more) teach the families fastest; synth's own scenes use 0.3-0.6 alone.</summary>
    public static WorldSceneOptions CurriculumScenes { get; } =
        WorldSceneOptions.SingleObject with { SingleScaleMin = 0.5, SingleScaleMax = 0.85 };

    readonly WorldSceneOptions single;

    /// <param name="single">
    /// The one-object scenes of the curriculum (default: <see cref="WorldSceneOptions.SingleObject"/>).
    /// </param>
    public WorldSceneSource(int trainSeed, WorldSceneOptions? single = null)
    {
        this.single = single ?? WorldSceneOptions.SingleObject;
        this.single.Validate();
        if (trainSeed < 0 || trainSeed > MaxTrainSeed)
            throw UserInputException.Invalid("Seed", $"training seed must be in 0..{MaxTrainSeed} (got {trainSeed})");
        WorldSeed = SeedOffset + trainSeed;
    }

    public int WorldSeed { get; }
    public IReadOnlyList<string> Families => WorldScene.FamilyNames;
    public int CaptionDim => WorldScene.CaptionLength;
    public int LabelDim => WorldScene.CaptionLength;
    public string Description => $"hierarchical world, stream seed {WorldSeed}" +
        (single == WorldSceneOptions.SingleObject ? ""
            : $", one-object scale {single.SingleScaleMin}-{single.SingleScaleMax}");

    public ClipScene Render(long index, int size, bool singleObject)
    {
        var scene = WorldSampler.Sample(WorldSeed, index, singleObject ? single : null);
        var image = new RgbImage(size, size, WorldRenderer.Render(scene, size));
        var caption = scene.Caption();
        var families = scene.FamilyCounts().Select(c => c > 0 ? 1f : 0f).ToArray();
        return new ClipScene(image, caption, families, (float[])caption.Clone(), Coverage(scene, size));
    }

    static readonly WorldBackground Black = new([0, 0, 0], [0, 0, 0], 0, [], 0, 0);
    static readonly WorldBackground White = new([1, 1, 1], [1, 1, 1], 0, [], 0, 0);

    /// <summary>
    /// Per-pixel coverage of each family, (F, S, S). The renderer alpha-composites every part over what is below, so a
    /// family's objects drawn alone over black and over white differ by exactly the uncovered fraction:
    /// coverage = 1 − (white − black), per pixel (mean over channels).
    /// </summary>
    static float[] Coverage(WorldScene scene, int size)
    {
        int f = WorldScene.Families, n = size * size;
        var cov = new float[f * n];
        var onBlack = new float[n * 3];
        var onWhite = new float[n * 3];
        for (int k = 0; k < f; k++)
        {
            var objects = scene.Objects.Where(o => (int)o.Family == k).ToArray();
            if (objects.Length == 0) continue;
            WorldRenderer.RenderFloat(scene with { Background = Black, Objects = objects }, size, onBlack);
            WorldRenderer.RenderFloat(scene with { Background = White, Objects = objects }, size, onWhite);
            for (int p = 0; p < n; p++)
            {
                float open = (onWhite[3 * p] - onBlack[3 * p] + onWhite[3 * p + 1] - onBlack[3 * p + 1]
                              + onWhite[3 * p + 2] - onBlack[3 * p + 2]) / 3;
                cov[k * n + p] = Math.Clamp(1 - open, 0f, 1f);
            }
        }
        return cov;
    }
}
