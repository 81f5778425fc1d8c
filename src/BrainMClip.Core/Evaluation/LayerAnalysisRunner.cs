using System.Text.RegularExpressions;
using BrainMClip.Data;
using BrainMClip.Features;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>
/// `analyze-layers` on real files: CLIP hidden states from a feature file (<c>hidden_states.k</c>, one row per
/// stimulus of the split) against the ROI groups of an NSD-layout subject's fMRI for the same split.
/// </summary>
public static partial class LayerAnalysisRunner
{
    /// <summary>Synchronous progress (System.Progress posts to the thread pool, which would reorder bar
    /// updates).</summary>
    sealed class BarProgress(ProgressBar bar) : IProgress<int>
    {
        public void Report(int value) => bar.Advance();
    }

    [GeneratedRegex(@"^hidden_states\.(\d+)$")]
    private static partial Regex HiddenKey();

    /// <summary>The layers present in a feature file, ascending: (k, tensor name).</summary>
    public static IReadOnlyList<(int layer, string key)> HiddenStateKeys(string featPath)
    {
        var header = FeatureFile.ReadHeader(featPath);
        var keys = header.Entries.Keys.Select(k => (m: HiddenKey().Match(k), k)).Where(x => x.m.Success)
            .Select(x => (int.Parse(x.m.Groups[1].Value), x.k)).OrderBy(x => x.Item1).ToList();
        if (keys.Count == 0)
            throw new UserInputException(
                $"{featPath}: no hidden_states.k tensors; extract features that store the hidden states");
        return keys;
    }

    /// <summary>
    /// ROI groups of the layer analysis (docs/evaluation.md) over the nsdgeneral voxels: early visual areas V1–hV4 and
    /// their union (low-level, prf-visualrois), each floc category (faces, bodies, places, words), their union
    /// (semantic) and all of nsdgeneral. Groups without voxels are left out.
    /// </summary>
    public static Dictionary<string, int[]> RoiGroupColumns(VoxelSplit split)
    {
        var groups = new Dictionary<string, int[]>(StringComparer.Ordinal);
        void Add(string name, int[] cols) { if (cols.Length >= 2) groups[name] = cols; }
        if (split.Labels.TryGetValue(NsdRois.PrfVisualRois, out var prf))
        {
            foreach (var (name, labels) in new[]
                { ("V1", new[] { 1, 2 }), ("V2", new[] { 3, 4 }), ("V3", new[] { 5, 6 }), ("hV4", new[] { 7 }) })
                Add(name, Enumerable.Range(0, prf.Length).Where(i => labels.Contains(prf[i])).ToArray());
        }
        Add("low-level", split.Low);
        foreach (var mask in NsdRois.FlocMasks)
            if (split.Labels.TryGetValue(mask, out var lab))
                Add(mask.Replace("floc-", ""), Enumerable.Range(0, lab.Length).Where(i => lab[i] > 0).ToArray());
        Add("semantic", split.Semantic);
        Add("nsdgeneral", split.Detail);
        return groups;
    }

    public static LayerAnalysisResult Run(string featPath, string dataRoot, int subject, string split,
        TextWriter? log = null)
    {
        var layers = HiddenStateKeys(featPath);
        var nsd = NsdSubject.Open(dataRoot, subject);
        long rows = FeatureFile.ReadHeader(featPath).Entries[layers[0].key].Shape[0];
        int samples = nsd.Samples(split);
        if (rows != samples)
            throw new UserInputException(
                $"{featPath}: {rows} feature rows but the {split} split of subject {subject} has {samples} samples " +
                $"(extract features for the {split} stimuli)");
        var fmri = nsd.LoadFmri(split);
        try
        {
            var groups = RoiGroupColumns(nsd.Split)
                .ToDictionary(kv => kv.Key,
                kv => fmri.index_select(1, tensor(kv.Value.Select(i => (long)i).ToArray())));
            if (groups.Count == 0) throw new UserInputException(
                $"{dataRoot}: subject {subject} has no ROI group with voxels");
            log?.WriteLine(
                $"layer analysis: {layers.Count} layers × {groups.Count} ROI groups " +
                $"({string.Join(", ", groups.Select(g => $"{g.Key} {g.Value.shape[1]}"))}), {samples} samples");
            using var bar = new ProgressBar("analyze-layers", layers.Count, "layer");
            var result = LayerAnalysis.Run(layers.Count, i => FeatureFile.Read(featPath, layers[i].key),
                groups, layers.Select(l => $"layer {l.layer}").ToList(), new BarProgress(bar));
            foreach (var g in groups.Values) g.Dispose();
            return result;
        }
        finally { fmri.Dispose(); }
    }
}
