using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation;

/// <summary>
/// <c>evaluate --truth-cache FILE</c>: the ground truth's metric-network features (one N×D matrix per metric) in a
/// safetensors file, so that evaluating more reconstruction sets of the same images later — or, in the demo, computing
/// them on a core that would otherwise wait — skips the ground truth's network passes. The file records which images
/// (their numbers) and a fingerprint of the ground-truth file and of every network weight file (path, size, time
/// of last write); anything else is a miss and the features are computed again.
/// </summary>
public static class TruthFeatureCache
{
    const string FingerprintKey = "fingerprint", IndicesKey = "indices";

    /// <summary>SHA-256 over (full path, size, last write time) of the ground truth and the network files (a folder
    /// counts as all its files).</summary>
    public static string Fingerprint(string truthPath, IEnumerable<string> networkPaths)
    {
        var sb = new StringBuilder();
        foreach (var p in new[] { truthPath }.Concat(networkPaths))
        {
            var files = Directory.Exists(p)
                ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                : (IEnumerable<string>)[p];
            foreach (var f in files)
            {
                var info = new FileInfo(f);
                sb.Append(CultureInfo.InvariantCulture,
                    $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}\n");
            }
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <summary>The cached features of <paramref name="indices"/> for every metric in <paramref name="metrics"/>,
    /// or null (with the reason logged) when the file is absent, from other inputs, or lacks an image or a
    /// metric.</summary>
    public static Dictionary<string, FeatureMatrix>? TryLoad(string path, string fingerprint,
        IReadOnlyList<int> indices, IReadOnlyCollection<string> metrics, TextWriter? log)
    {
        if (!File.Exists(path)) return null;
        Dictionary<string, FeatureMatrix>? Miss(string why)
        {
            log?.WriteLine($"{path}: {why}; computing the ground truth's features again");
            return null;
        }
        var header = SafeTensors.ReadHeader(path);
        if (header.Metadata.GetValueOrDefault(FingerprintKey) != fingerprint)
            return Miss("made from other ground-truth images or network weights");
        var stored = (header.Metadata.GetValueOrDefault(IndicesKey) ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))
            .Select((index, row) => (index, row)).ToDictionary(x => x.index, x => x.row);
        var missingImage = indices.FirstOrDefault(i => !stored.ContainsKey(i), -1);
        if (missingImage >= 0) return Miss($"image {missingImage} is not in it");
        var missingMetric = metrics.FirstOrDefault(m => !header.Entries.ContainsKey(m));
        if (missingMetric != null) return Miss($"metric '{missingMetric}' is not in it");

        var result = new Dictionary<string, FeatureMatrix>(StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        var rows = tensor(indices.Select(i => (long)stored[i]).ToArray());
        foreach (var (name, t) in SafeTensors.Load(path, metrics))
            result[name] = FeatureMatrix.FromTensor(t.index_select(0, rows));
        log?.WriteLine($"{path}: the ground truth's features of {indices.Count} images, computed earlier");
        return result;
    }

    /// <summary>Writes the features (rows in <paramref name="indices"/> order) atomically.</summary>
    public static void Save(string path, string fingerprint, IReadOnlyList<int> indices,
        IReadOnlyDictionary<string, FeatureMatrix> features)
    {
        using var scope = NewDisposeScope();
        var tensors = features.ToDictionary(kv => kv.Key,
            kv => tensor(kv.Value.Data).reshape(kv.Value.Rows, kv.Value.Dims));
        SafeTensors.Save(path, tensors, new Dictionary<string, string>
        {
            [FingerprintKey] = fingerprint,
            [IndicesKey] = string.Join(',', indices.Select(i => i.ToString(CultureInfo.InvariantCulture))),
        });
    }
}
