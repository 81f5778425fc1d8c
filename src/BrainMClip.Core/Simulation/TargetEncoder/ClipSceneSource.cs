using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>One rendered training scene and its symbolic description.</summary>
/// <param name="Image">The rendered image (any size; the trainer asks for the CLIP input size).</param>
/// <param name="Caption">The scene's symbolic "caption" vector, the input of the caption encoder.</param>
/// <param name="Families">Multi-hot presence of each category family (same order as <see
/// cref="IClipSceneSource.Families"/>).</param>
/// <param name="Labels">The true labels used by the retrieval check (family presence and within-category
/// attributes).</param>
/// <param name="Coverage">Optional per-pixel coverage of each family, (F, S, S) row-major in [0, 1], for the middle
/// layer's per-patch family head (local category evidence lives in the middle of the tower, not in the final
/// tokens).</param>
public sealed record ClipScene(
    RgbImage Image, float[] Caption, float[] Families, float[] Labels, float[]? Coverage = null);

/// <summary>
/// Deterministic scenes for <see cref="ClipTrainer"/>: the same index always renders the same scene. Implementations
/// must be thread-safe (scenes are rendered in parallel).
/// </summary>
public interface IClipSceneSource
{
    /// <summary>
    /// Category families, in the order of <see cref="ClipScene.Families"/> (e.g. face, body, place, word).
    /// </summary>
    IReadOnlyList<string> Families { get; }
    /// <summary>Length of <see cref="ClipScene.Caption"/>.</summary>
    int CaptionDim { get; }
    /// <summary>Length of <see cref="ClipScene.Labels"/>.</summary>
    int LabelDim { get; }
    /// <summary>Human-readable description (world, seed) for training.json.</summary>
    string Description { get; }
    /// <summary>
    /// Scene <paramref name="index"/> at <paramref name="size"/>²; <paramref name="singleObject"/> = the curriculum's
    /// one-object scenes.
    /// </summary>
    ClipScene Render(long index, int size, bool singleObject);
}

/// <summary>
/// A rendered block of scenes as tensors: images (N, 3, S, S) uint8, captions, families and labels float32, and (when
/// the source gives coverage) the per-patch family coverage (N, G², F).
/// </summary>
public sealed class ClipSceneSet : IDisposable
{
    public required Tensor Images { get; init; }
    public required Tensor Captions { get; init; }
    public required Tensor Families { get; init; }
    public required Tensor Labels { get; init; }
    public Tensor? Coverage { get; init; }
    public long Count => Images.shape[0];

    /// <summary>
    /// Renders scenes <paramref name="first"/>..first+count−1 in parallel (order and content depend only on the
    /// indices).
    /// </summary>
    public static ClipSceneSet Render(IClipSceneSource source, long first, int count, int size, int patch,
        bool singleObject)
    {
        var scenes = new ClipScene[count];
        Parallel.For(0, count, i => scenes[i] = source.Render(first + i, size, singleObject));
        int px = 3 * size * size;
        var images = new byte[checked((long)px * count)];
        for (int i = 0; i < count; i++)
        {
            var img = scenes[i].Image;
            if (img.Width != size || img.Height != size)
                throw new InvalidOperationException(
                    $"{source.Description}: scene {first + i} is {img.Width}x{img.Height}, asked for {size}x{size}");
            // HWC → CHW
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < size * size; p++)
                    images[(long)i * px + c * size * size + p] = img.Pixels[p * 3 + c];
        }
        return new ClipSceneSet
        {
            Images = tensor(images, [count, 3, size, size], ScalarType.Byte),
            Captions = Stack(scenes, s => s.Caption, source.CaptionDim, "caption", first),
            Families = Stack(scenes, s => s.Families, source.Families.Count, "families", first),
            Labels = Stack(scenes, s => s.Labels, source.LabelDim, "labels", first),
            Coverage = scenes.All(s => s.Coverage is not null)
                ? PatchCoverage(scenes, source.Families.Count, size, patch)
                : null,
        };
    }

    /// <summary>
    /// Mean coverage of each family per patch (row-major patches, like the patch tokens): (N, G², F).
    /// </summary>
    static Tensor PatchCoverage(ClipScene[] scenes, int families, int size, int patch)
    {
        int g = size / patch;
        var all = new float[checked(scenes.Length * g * g * families)];
        Parallel.For(0, scenes.Length, i =>
        {
            var cov = scenes[i].Coverage!;
            if (cov.Length != families * size * size)
                throw new InvalidOperationException(
                    $"scene {i}: coverage has {cov.Length} values, expected {families * size * size}");
            for (int f = 0; f < families; f++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        all[((i * g + y / patch) * g + x / patch) * families + f] += cov[(f * size + y) * size + x];
        });
        return tensor(all, [scenes.Length, g * g, families]) / (patch * patch);
    }

    static Tensor Stack(ClipScene[] scenes, Func<ClipScene, float[]> pick, int dim, string what, long first)
    {
        var all = new float[checked(scenes.Length * dim)];
        for (int i = 0; i < scenes.Length; i++)
        {
            var v = pick(scenes[i]);
            if (v.Length != dim)
                throw new InvalidOperationException($"scene {first + i}: {what} has {v.Length} values, expected {dim}");
            v.CopyTo(all, i * dim);
        }
        return tensor(all, [scenes.Length, dim]);
    }

    public void Dispose()
    {
        Images.Dispose(); Captions.Dispose(); Families.Dispose(); Labels.Dispose(); Coverage?.Dispose();
    }
}
