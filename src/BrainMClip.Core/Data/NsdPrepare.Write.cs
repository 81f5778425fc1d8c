using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Data;

/// <summary>The passes of <see cref="NsdPrepare"/>: betas, stimuli, ids and masks, manifest, publication.</summary>
public static partial class NsdPrepare
{
    /// <summary>Relative paths (under the output root) of everything written, in publication order.</summary>
    static List<string> Outputs(Plan p)
    {
        int n = p.Options.Subject;
        string root = p.Options.OutDir;
        var files = new List<string>();
        foreach (var split in SplitNames)
        {
            files.Add(NsdSubject.FmriPathOf(root, n, split));
            files.Add(NsdSubject.StimuliPathOf(root, n, split));
            files.Add(IdsPath(root, n, split));
        }
        files.AddRange(NsdRois.AllMasks.Select(m => NsdSubject.RoiPathOf(root, n, m)));
        return files.Select(f => Path.GetRelativePath(root, f)).ToList();
    }

    /// <summary>
    /// Streams the sessions once: each trial's nsdgeneral voxels (float32) are added, in trial order, to its row's
    /// float32 sum — the sequence of additions numpy's mean makes over a row's sorted trials — and each sum is
    /// divided by its count in float32 at the end. Memory: the sums (rows × voxels × 4 bytes) plus one session.
    /// </summary>
    static void WriteFmri(Plan p, string tmp, TextWriter log)
    {
        var o = p.Options;
        int nv = p.Voxels.Length, T = NsdRelease.TrialsPerSession;
        var fileIdx = NsdBetaSession.FileIndices(p.Grid, p.Voxels);
        var sums = p.Ids.Select(l => new float[checked((long)l.Count * nv)]).ToArray();
        var session = new float[checked((long)T * nv)];
        using (var bar = new ProgressBar("nsd prepare: betas", (long)p.Sessions * T, "trial", log))
            for (int s = 0; s < p.Sessions; s++)
            {
                string path = NsdRelease.SessionPath(o.NsdRoot, o.Subject, s + 1, p.Format);
                using (var b = NsdBetaSession.Open(path, p.Format, p.Grid))
                    for (int j = 0; j < T; j++)
                    {
                        b.ReadNext(fileIdx, session.AsSpan(j * nv, nv));
                        bar.Advance(status: $"session {s + 1}/{p.Sessions}");
                    }
                CheckFinite(session, nv, path);
                if (o.ZScoreSessions) ZScoreColumns(session, T, nv);
                for (int j = 0; j < T; j++)
                {
                    var (split, row) = p.Trials[s * T + j];
                    var dst = sums[split].AsSpan(row * nv, nv);
                    var src = session.AsSpan(j * nv, nv);
                    for (int v = 0; v < nv; v++) dst[v] += src[v];
                }
            }
        for (int split = 0; split < 2; split++)
        {
            int rows = p.Ids[split].Count;
            var reps = p.Repetitions[split];
            string final = NsdSubject.FmriPathOf(o.OutDir, o.Subject, SplitNames[split]);
            WriteStreamed(Staged(tmp, o.OutDir, final), NpyDType.Float64, [rows, nv], s =>
            {
                var line = new double[nv];
                for (int r = 0; r < rows; r++)
                {
                    var sum = sums[split].AsSpan(r * nv, nv);
                    float count = reps[r];
                    for (int v = 0; v < nv; v++) line[v] = sum[v] / count;
                    s.Write(MemoryMarshal.AsBytes(line.AsSpan()));
                }
            });
        }
    }

    static void CheckFinite(float[] session, int nv, string path)
    {
        for (int i = 0; i < session.Length; i++)
            if (!float.IsFinite(session[i]))
                throw new UserInputException(
                    $"{path}: trial {i / nv + 1}, nsdgeneral voxel {i % nv} is {session[i]}; betas must be finite");
    }

    /// <summary>Each column of a (rows × cols) matrix to mean 0 and standard deviation 1 (ddof 0, computed in
    /// float64, as scipy.stats.zscore); a constant column becomes 0.</summary>
    static void ZScoreColumns(float[] a, int rows, int cols)
    {
        var mean = new double[cols];
        var sq = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) mean[c] += a[r * cols + c];
        for (int c = 0; c < cols; c++) mean[c] /= rows;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) { double d = a[r * cols + c] - mean[c]; sq[c] += d * d; }
        for (int c = 0; c < cols; c++) sq[c] = Math.Sqrt(sq[c] / rows);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                a[r * cols + c] = sq[c] > 0 ? (float)((a[r * cols + c] - mean[c]) / sq[c]) : 0f;
    }

    /// <summary>The imgBrick rows of each split, in row order, streamed into a uint8 (rows, H, W, 3) array.</summary>
    static void WriteStimuli(Plan p, string tmp, TextWriter log)
    {
        var o = p.Options;
        int[] shape = p.ImageShape;
        using var f = Hdf5File.Open(NsdRelease.StimuliPath(o.NsdRoot));
        var ds = f.Dataset(NsdRelease.StimuliDataset);
        using var bar = new ProgressBar("nsd prepare: stimuli", p.Ids.Sum(l => l.Count), "img", log);
        for (int split = 0; split < 2; split++)
        {
            var ids = p.Ids[split];
            string final = NsdSubject.StimuliPathOf(o.OutDir, o.Subject, SplitNames[split]);
            WriteStreamed(Staged(tmp, o.OutDir, final), NpyDType.UInt8, [ids.Count, shape[0], shape[1], 3], s =>
            {
                foreach (int id in ids)
                {
                    s.Write(ds.ReadRows<byte>(id, 1));
                    bar.Advance();
                }
            });
        }
    }

    static void WriteIdsAndMasks(Plan p, string tmp)
    {
        var o = p.Options;
        for (int split = 0; split < 2; split++)
        {
            var ids = p.Ids[split].Select(i => (long)i).ToArray();
            string final = IdsPath(o.OutDir, o.Subject, SplitNames[split]);
            WriteStreamed(Staged(tmp, o.OutDir, final), NpyDType.Int64, [ids.Length],
                s => s.Write(MemoryMarshal.AsBytes(ids.AsSpan())));
        }
        foreach (var m in NsdRois.AllMasks)
        {
            string dst = Staged(tmp, o.OutDir, NsdSubject.RoiPathOf(o.OutDir, o.Subject, m));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(NsdRelease.RoiPath(o.NsdRoot, o.Subject, m), dst);
        }
    }

    /// <summary>prepare.json: what was used and what came out (it is written last, so its presence means
    /// done).</summary>
    static void WriteManifest(Plan p, string tmp)
    {
        var o = p.Options;
        static JsonArray Ints(IEnumerable<int> xs) => new(xs.Select(x => (JsonNode)x).ToArray());
        JsonObject Hist(int[] reps) => new(reps.GroupBy(r => r).OrderBy(g => g.Key)
            .Select(g => KeyValuePair.Create(g.Key.ToString(), (JsonNode?)g.Count())));
        var json = new JsonObject
        {
            ["convention"] = "Brain-Diffuser prepare_nsddata.py: rows = distinct images in order of first " +
                "appearance; train = masterordering > 1000; row = mean of its trials' nsdgeneral voxels",
            ["subject"] = o.Subject,
            ["betas_format"] = p.Format == NsdBetasFormat.Nifti ? "nifti" : "hdf5",
            ["sessions_used"] = p.Sessions,
            ["sessions_available"] = p.SessionsAvailable,
            ["zscore_sessions"] = o.ZScoreSessions,
            ["fmri_values"] = o.ZScoreSessions
                ? "per-session z-scores (each voxel over its session's 750 trials, ddof 0), float32, averaged in " +
                  "float32, stored as float64"
                : "betas in the file's own units (NSD: percent signal change ×300) as float32, averaged in float32, " +
                  "stored as float64",
            ["trials"] = new JsonObject
            {
                ["total"] = p.Trials.Length,
                ["train"] = p.Trials.Count(t => t.Split == 0),
                ["test"] = p.Trials.Count(t => t.Split == 1),
            },
            ["rows"] = new JsonObject { ["train"] = p.Ids[0].Count, ["test"] = p.Ids[1].Count },
            ["repetitions_histogram"] = new JsonObject
            {
                ["train"] = Hist(p.Repetitions[0]),
                ["test"] = Hist(p.Repetitions[1])
            },
            ["repetitions"] = new JsonObject
            {
                ["train"] = Ints(p.Repetitions[0]),
                ["test"] = Ints(p.Repetitions[1])
            },
            ["voxels"] = p.Voxels.Length,
            ["grid"] = Ints(p.Grid),
            ["image_shape"] = Ints(p.ImageShape),
            ["test_images_all_shared"] = p.Ids[1].All(id => p.Design.SharedIx.Contains(id + 1)),
            ["sources"] = new JsonArray(p.Sources.Select(s => (JsonNode)new JsonObject
            {
                ["path"] = Path.GetRelativePath(o.NsdRoot, s),
                ["bytes"] = new FileInfo(s).Length,
            }).ToArray()),
            ["outputs"] = new JsonArray(Outputs(p).Select(f => (JsonNode)f).ToArray()),
        };
        string final = ManifestPath(o.OutDir, o.Subject);
        string staged = Staged(tmp, o.OutDir, final);
        Directory.CreateDirectory(Path.GetDirectoryName(staged)!);
        File.WriteAllText(staged, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Moves every staged file to its place, prepare.json last.</summary>
    static void Publish(Plan p, string tmp)
    {
        var o = p.Options;
        var files = Outputs(p).Append(Path.GetRelativePath(o.OutDir, ManifestPath(o.OutDir, o.Subject)));
        foreach (var rel in files)
        {
            string dst = Path.Combine(o.OutDir, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Move(Path.Combine(tmp, rel), dst, overwrite: true);
        }
    }

    /// <summary>Where <paramref name="final"/> is staged inside <paramref name="tmp"/>.</summary>
    static string Staged(string tmp, string root, string final) =>
        Path.Combine(tmp, Path.GetRelativePath(root, final));

    static void WriteStreamed(string path, NpyDType dtype, long[] shape, Action<Stream> body)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        fs.Write(Npy.Header(dtype, shape));
        body(fs);
        long expected = Npy.Header(dtype, shape).Length + shape.Aggregate(1L, (a, b) => a * b) * Npy.ElementSize(dtype);
        if (fs.Position != expected)
            throw new InvalidOperationException($"{path}: wrote {fs.Position} bytes, expected {expected}");
        fs.Flush(flushToDisk: true);
    }
}
