using System.Text.RegularExpressions;

namespace BrainMClip.Evaluation;

public enum DataKind { Unknown, Synthetic, RealNsd }

/// <summary>
/// Where test data comes from, so published NSD figures are shown only beside results on real NSD data. A data root
/// (the folder holding <c>processed_data/</c>) written by <c>brainmclip synth</c> also holds <c>ground_truth/</c>
/// (scene contents, receptive fields); an NSD root prepared for Brain-Diffuser has none.
/// </summary>
public sealed partial record DataProvenance(DataKind Kind, string? Root, int? Subject)
{
    public static readonly DataProvenance Unknown = new(DataKind.Unknown, null, null);

    /// <summary>Human-readable: "synthetic subject 1 (DATA)", "real NSD subject 1 (DATA)" or "unknown".</summary>
    public string Describe() => Kind switch
    {
        DataKind.Synthetic => $"synthetic subject {Subject?.ToString() ?? "?"} ({Root})",
        DataKind.RealNsd => $"NSD subject {Subject?.ToString() ?? "?"} ({Root})",
        _ => "unknown data source",
    };

    /// <summary>Classifies a data root (DATA of `synth --out` / `train --data`).</summary>
    public static DataProvenance FromDataRoot(string root, int? subject = null)
    {
        if (!Directory.Exists(Path.Combine(root, "processed_data"))) return Unknown;
        subject ??= SubjectIn(Directory.GetDirectories(Path.Combine(root, "processed_data")).Select(Path.GetFileName));
        var kind = Directory.Exists(Path.Combine(root, "ground_truth")) ? DataKind.Synthetic : DataKind.RealNsd;
        return new DataProvenance(kind, Path.GetFullPath(root), subject);
    }

    /// <summary>
    /// Classifies any file or folder inside a data root (e.g. <c>DATA/processed_data/subj01/nsd_test_stim_sub1.npy</c>)
    /// by walking up to the folder that holds <c>processed_data/</c>; Unknown when there is none.
    /// </summary>
    public static DataProvenance FromPath(string path)
    {
        var full = Path.GetFullPath(path);
        int? subject = SubjectIn(full.Split(Path.DirectorySeparatorChar));
        var start = File.Exists(full) ? Path.GetDirectoryName(full) : full;
        for (var dir = start; dir != null; dir = Path.GetDirectoryName(dir))
            if (Directory.Exists(Path.Combine(dir, "processed_data"))) return FromDataRoot(dir, subject);
        return Unknown;
    }

    [GeneratedRegex(@"^subj0*(\d+)$")]
    private static partial Regex SubjectFolder();

    static int? SubjectIn(IEnumerable<string?> names)
    {
        foreach (var n in names)
            if (n != null && SubjectFolder().Match(n) is { Success: true } m) return int.Parse(m.Groups[1].Value);
        return null;
    }
}
