using BrainMClip.IO;
namespace BrainMClip.Data;

/// <summary>The voxel streams of docs/data.md.</summary>
public enum VoxelStream { Detail, Semantic, Low }

/// <summary>ROI file names and label names of docs/data.md.</summary>
public static class NsdRois
{
    public const string NsdGeneral = "nsdgeneral";
    public const string PrfVisualRois = "prf-visualrois";
    public static readonly string[] FlocMasks = ["floc-faces", "floc-bodies", "floc-places", "floc-words"];

    /// <summary>Every ROI mask file (without .nii.gz) the layout needs, nsdgeneral first.</summary>
    public static readonly string[] AllMasks = [NsdGeneral, PrfVisualRois, .. FlocMasks];

    /// <summary>Label names by mask: label value k (1-based) is names[k-1].</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Labels = new Dictionary<string, string[]>
    {
        [PrfVisualRois] = ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"],
        ["floc-faces"] = ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
        ["floc-bodies"] = ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
        ["floc-places"] = ["OPA", "PPA", "RSC"],
        ["floc-words"] = ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
    };

    public static VoxelStream ParseStream(string s) => s.ToLowerInvariant() switch
    {
        "detail" => VoxelStream.Detail,
        "semantic" => VoxelStream.Semantic,
        "low" => VoxelStream.Low,
        _ => throw UserInputException.Invalid("Stream",
            $"'{s}' is not a voxel stream (expected detail, semantic or low)"),
    };
}

/// <summary>
/// Which columns of the nsdgeneral fMRI vector belong to each stream (docs/data.md), plus per-ROI voxel counts.
/// Indices are into the nsdgeneral vector (voxels with nsdgeneral &gt; 0 in C order over [x,y,z]).
/// </summary>
public sealed class VoxelSplit
{
    public required int[] Detail { get; init; }
    public required int[] Semantic { get; init; }
    public required int[] Low { get; init; }
    /// <summary>Voxels inside nsdgeneral carrying each label (names and label order of docs/data.md).</summary>
    public required IReadOnlyDictionary<string, int> RoiCounts { get; init; }
    /// <summary>Per nsdgeneral voxel, its label value in each mask (0 = none), e.g. for the layer analysis.</summary>
    public required IReadOnlyDictionary<string, int[]> Labels { get; init; }
    /// <summary>Grid coordinates [x,y,z] of each nsdgeneral voxel.</summary>
    public required int[][] Coordinates { get; init; }

    public int[] Indices(VoxelStream s) => s switch
    {
        VoxelStream.Detail => Detail,
        VoxelStream.Semantic => Semantic,
        VoxelStream.Low => Low,
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    /// <summary>The nsdgeneral voxels carrying <paramref name="label"/> (a docs/data.md name such as
    /// "FFA-1").</summary>
    public int[] RoiIndices(string label)
    {
        foreach (var (mask, names) in NsdRois.Labels)
        {
            int k = Array.IndexOf(names, label);
            if (k < 0) continue;
            var lab = Labels[mask];
            return Enumerable.Range(0, lab.Length).Where(i => lab[i] == k + 1).ToArray();
        }
        throw new UserInputException(
            $"ROI '{label}' is not a known label (known: " +
            $"{string.Join(", ", NsdRois.Labels.Values.SelectMany(x => x))})");
    }

    /// <summary>Builds the split from the mask volumes (keys: <see cref="NsdRois.AllMasks"/>), all on one
    /// grid.</summary>
    public static VoxelSplit FromMasks(IReadOnlyDictionary<string, NiftiVolume> masks)
    {
        var general = masks[NsdRois.NsdGeneral];
        foreach (var name in NsdRois.AllMasks)
        {
            var m = masks[name];
            if (!m.Shape.SequenceEqual(general.Shape))
                throw new UserInputException(
                    $"{m.Path}: ROI grid {string.Join("×", m.Shape)} differs from nsdgeneral's " +
                        $"{string.Join("×", general.Shape)} ({general.Path})");
        }
        // C order over [x,y,z] is exactly the order of NiftiVolume.Values.
        var where = new List<int>();
        for (int i = 0; i < general.Values.Length; i++)
            if (general.Values[i] > 0) where.Add(i);
        int n = where.Count;
        int[] shape = general.Shape;
        var coords = where.Select(i => new[] { i / (shape[1] * shape[2]), i / shape[2] % shape[1], i % shape[2] })
            .ToArray();

        var labels = new Dictionary<string, int[]>();
        var counts = new Dictionary<string, int>();
        foreach (var (mask, names) in NsdRois.Labels)
        {
            var vol = masks[mask].Values;
            // Labels are integers; float-stored masks are rounded. Negative (outside brain) counts as no label.
            var lab = where.Select(i => vol[i] > 0 ? (int)Math.Round(vol[i]) : 0).ToArray();
            labels[mask] = lab;
            for (int k = 0; k < names.Length; k++) counts[names[k]] = lab.Count(l => l == k + 1);
        }
        var semantic = Enumerable.Range(0, n)
            .Where(i => NsdRois.FlocMasks.Any(m => masks[m].Values[where[i]] > 0)).ToArray();
        var low = Enumerable.Range(0, n).Where(i => masks[NsdRois.PrfVisualRois].Values[where[i]] > 0).ToArray();
        return new VoxelSplit
        {
            Detail = Enumerable.Range(0, n).ToArray(),
            Semantic = semantic,
            Low = low,
            RoiCounts = counts,
            Labels = labels,
            Coordinates = coords,
        };
    }
}
