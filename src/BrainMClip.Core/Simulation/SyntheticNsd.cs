using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Simulation;

/// <summary>Which simulated world `synth` draws (see <see cref="SyntheticNsd"/>).</summary>
public enum SynthWorld
{
    /// <summary>Scenes of four object families, a nonlinear category-selective brain, shared and smooth
    /// noise.</summary>
    Hierarchical,
    /// <summary>Geometric shapes, voxels linear in pooled features and category counts, independent noise.</summary>
    Linear,
}

/// <summary>Settings of a synthetic NSD-like subject (docs/data.md).</summary>
public sealed record SynthOptions
{
    public SynthWorld World { get; init; } = SynthWorld.Hierarchical;
    public required string OutDir { get; init; }
    public int Subject { get; init; } = 1;
    public int Train { get; init; } = 600;
    public int Test { get; init; } = 100;
    public int ImageSize { get; init; } = 64;
    public int Seed { get; init; }
    /// <summary>
    /// Linear world only: number of object categories K (1..8, in the order of <see
    /// cref="SyntheticNsd.CategoryNames"/>); null = 8. The hierarchical world always has the four families of <see
    /// cref="BrainMClip.Simulation.WorldFamily"/>.
    /// </summary>
    public int? Categories { get; init; }
    /// <summary>
    /// Signal-to-noise ratio of ONE repetition (signal variance / noise variance); repetitions are averaged.
    /// null = the world's default (linear 1.0, hierarchical <see cref="SyntheticNsd.HierarchicalDefaultSnr"/>).
    /// </summary>
    public double? Snr { get; init; }
    public int Repetitions { get; init; } = 3;
    /// <summary>
    /// Hierarchical world only: weight of a signed local colour term in the low-level drive (mean luminance and
    /// colour-opponent values over the receptive field, random signed weights per voxel), relative to the edge-energy
    /// term. 0 (default) = edge energy only, the world of the evidence studies; the demo uses
    /// <see cref="SyntheticNsd.DemoPrfColour"/>.
    /// </summary>
    public double PrfColour { get; init; }
    /// <summary>"float32" or "float64".</summary>
    public string FmriDType { get; init; } = "float32";
    /// <summary>Voxel grid [nx, ny, nz]; y runs posterior → anterior.</summary>
    public int[] Grid { get; init; } = [20, 24, 20];

    public int LinearCategories => Categories ?? 8;
    public double EffectiveSnr => Snr ?? (World == SynthWorld.Linear ? 1.0 : SyntheticNsd.HierarchicalDefaultSnr);

    public void Validate()
    {
        static void Require(bool ok, string field, string message) => UserInputException.Require(ok, field, message);
        Require(Subject is >= 1 and <= 99, nameof(Subject), $"subject {Subject} is out of range (1..99)");
        Require(Train >= 2, nameof(Train), $"too few training images: {Train} (at least 2, for z-scoring)");
        Require(Test >= 1, nameof(Test), $"too few test images: {Test} (at least 1)");
        Require((long)Train + Test <= 1_000_000, nameof(Train),
            "training + test images: more than 1,000,000 images is not supported");
        Require(ImageSize is >= 16 and <= 1024, nameof(ImageSize),
            $"image size {ImageSize} is out of range (16..1024)");
        Require(Categories == null || World == SynthWorld.Linear, nameof(Categories),
            "only the linear world has a choice of categories");
        Require(LinearCategories >= 1 && LinearCategories <= SyntheticNsd.CategoryNames.Length, nameof(Categories),
            $"category count {LinearCategories} is out of range (1..{SyntheticNsd.CategoryNames.Length})");
        Require(PrfColour == 0 || World == SynthWorld.Hierarchical, nameof(PrfColour),
            "only the hierarchical world has a prf colour weight");
        Require(PrfColour >= 0 && double.IsFinite(PrfColour), nameof(PrfColour),
            $"prf colour weight {PrfColour} must be 0 or a positive number");
        Require(EffectiveSnr > 0 && double.IsFinite(EffectiveSnr), nameof(Snr),
            $"signal-to-noise ratio {EffectiveSnr} must be a positive number");
        int minReps = World == SynthWorld.Linear ? 1 : 2;
        Require(Repetitions >= minReps && Repetitions <= 100, nameof(Repetitions),
            $"repetition count {Repetitions} is out of range ({minReps}..100; the hierarchical world needs 2 or more " +
            "to estimate the noise ceiling)");
        Require(FmriDType is "float32" or "float64", nameof(FmriDType),
            $"fMRI element type '{FmriDType}' (expected float32 or float64)");
        if (Grid.Length != 3 || Grid[0] < 8 || Grid[1] < 12 || Grid[2] < 8 || Grid.Any(g => g > 200))
            throw new UserInputException(
                $"grid {string.Join("×", Grid)} is invalid (at least 8×12×8, at most 200 per side)");
    }
}

/// <summary>What <see cref="SyntheticNsd.Generate"/> wrote.</summary>
public sealed record SynthResult(string DataRoot, int Subject, int Train, int Test, int ImageSize,
    int VoxelsDetail, int VoxelsSemantic, int VoxelsLow, string GroundTruthJson);

/// <summary>
/// A seeded synthetic NSD-like subject in exactly the docs/data.md layout (docs/data.md), in one of two worlds
/// (<see cref="SynthWorld"/>). A small voxel grid holds an nsdgeneral region with retinotopic low-level voxels
/// (prf-visualrois: Gaussian receptive fields growing with eccentricity), category-tuned voxels (floc-*) and unlabelled
/// voxels mixing both. Responses get noise at a set SNR per repetition and the repetitions are averaged. Ground truth
/// (scene contents, labels, receptive fields, tuning, ROI assignment, noiseless signal) is written to
/// DATA/ground_truth/.
/// This file holds what both worlds share: options, ROI volumes and the layout writer.
/// </summary>
public static partial class SyntheticNsd
{
    public enum VoxelKind : byte { Prf = 0, Floc = 1, Mixed = 2 }

    /// <summary>Generates everything into <see cref="SynthOptions.OutDir"/> (existing files of the layout are
    /// replaced).</summary>
    public static SynthResult Generate(SynthOptions o, TextWriter? progress = null)
    {
        o.Validate();
        return o.World == SynthWorld.Linear ? GenerateLinear(o, progress) : GenerateHierarchical(o, progress);
    }

    /// <summary>
    /// Writes the fMRI matrices (rows: train images then test images), the stimuli (n·S·S·3 bytes, same order) and
    /// the ROI volumes of the layout.
    /// </summary>
    static void WriteLayout(SynthOptions o, double[] fmri, int nd, byte[] pixels, Dictionary<string, double[]> rois)
    {
        string root = o.OutDir;
        int subj = o.Subject, S = o.ImageSize;
        foreach (var (split, start, count) in Splits(o))
        {
            var rows = fmri.AsSpan(checked(start * nd), checked(count * nd));
            string fp = NsdSubject.FmriPathOf(root, subj, split);
            if (o.FmriDType == "float64")
                Npy.Write(fp, NpyDType.Float64, [count, nd],
                    System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows));
            else
            {
                var f = new float[rows.Length];
                for (int j = 0; j < f.Length; j++) f[j] = (float)rows[j];
                Npy.WriteFloat32(fp, [count, nd], f);
            }
            long px = (long)S * S * 3;
            Npy.WriteUInt8(NsdSubject.StimuliPathOf(root, subj, split), [count, S, S, 3],
                pixels.AsSpan(checked((int)(start * px)), checked((int)(count * px))));
        }
        foreach (var (name, vol) in rois)
            Nifti.Write(NsdSubject.RoiPathOf(root, subj, name), o.Grid, vol, NiftiDataType.Int16);
    }

    /// <summary>(split, first row, rows) of the train and test splits.</summary>
    static (string Split, int Start, int Count)[] Splits(SynthOptions o) =>
        [("train", 0, o.Train), ("test", o.Train, o.Test)];

    /// <summary>
    /// Retinotopic receptive field of a prf-visualrois voxel with label <paramref name="label"/> (1..7) in the left
    /// (<paramref name="left"/>) or right hemisphere: contralateral hemifield, ventral areas see the upper field,
    /// dorsal the lower, hV4 both; size grows with eccentricity and along the hierarchy. (cx, cy, sigma) in image
    /// fractions.
    /// </summary>
    internal static (double Cx, double Cy, double Sigma) RetinotopicRf(Func<double> uniform, int label, bool left)
    {
        bool ventral = label % 2 == 1 || label == 7;
        double ecc = 0.03 + 0.42 * Math.Sqrt(uniform());
        double ang = Math.PI / 2 * uniform();
        double hx = left ? 1 : -1, hy = ventral ? -1 : 1;
        if (label == 7) hy = uniform() < 0.5 ? -1 : 1; // hV4 covers the whole hemifield
        double cx = Math.Clamp(0.5 + hx * ecc * Math.Cos(ang), 0, 1),
            cy = Math.Clamp(0.5 + hy * ecc * Math.Sin(ang), 0, 1);
        double areaScale = label switch { 1 or 2 => 1.0, 3 or 4 => 1.4, 5 or 6 => 1.9, _ => 2.5 };
        return (cx, cy, (0.03 + 0.15 * ecc) * areaScale);
    }

    /// <summary>
    /// ROI label volumes (C order over [x,y,z]): −1 outside an ellipsoidal brain, 0 unlabelled, labels as in
    /// docs/data.md.
    /// nsdgeneral covers the posterior part; prf-visualrois the most posterior slabs (partly outside nsdgeneral,
    /// dorsally); floc-* lie ventrally in front of them and extend beyond nsdgeneral anteriorly.
    /// </summary>
    static Dictionary<string, double[]> MakeRois(int[] grid)
    {
        int nx = grid[0], ny = grid[1], nz = grid[2];
        var res = NsdRois.AllMasks.ToDictionary(m => m, _ => new double[nx * ny * nz]);
        // Slab boundaries scale with the grid; the defaults give the 20×24×20 layout.
        int yPrf = ny * 5 / 24, yGap = ny * 6 / 24, yGen = ny * 10 / 24, yFloc = ny * 12 / 24;
        int zGen = nz * 14 / 20, zVent = nz * 10 / 20, zHalf = nz * 7 / 20;
        for (int x = 0; x < nx; x++)
            for (int y = 0; y < ny; y++)
                for (int z = 0; z < nz; z++)
                {
                    int i = (x * ny + y) * nz + z;
                    double ex = (x - (nx - 1) / 2.0) / (nx / 2.0), ey = (y - (ny - 1) / 2.0) / (ny / 2.0),
                        ez = (z - (nz - 1) / 2.0) / (nz / 2.0);
                    if (ex * ex + ey * ey + ez * ez > 1)
                    {
                        foreach (var m in res.Values) m[i] = -1;
                        continue;
                    }
                    res[NsdRois.NsdGeneral][i] = y < yGen && z < zGen ? 1 : 0;
                    if (y < yPrf)
                    {
                        // V1 (2 slabs), V2, V3, hV4 (ventral only), ventral/dorsal by z.
                        int band = y * 5 / yPrf; // 0..4
                        bool ventral = z < zHalf;
                        int label = band switch
                        {
                            0 or 1 => ventral ? 1 : 2,
                            2 => ventral ? 3 : 4,
                            3 => ventral ? 5 : 6,
                            _ => ventral ? 7 : 0,
                        };
                        res[NsdRois.PrfVisualRois][i] = label;
                    }
                    if (y >= yGap && y < yFloc && z < zVent)
                    {
                        string mask = (x * 4 / nx) switch
                        { 0 => "floc-places", 1 => "floc-faces", 2 => "floc-words", _ => "floc-bodies" };
                        int nl = NsdRois.Labels[mask].Length;
                        res[mask][i] = 1 + Math.Min(nl - 1, (y - yGap) * nl / (yFloc - yGap));
                    }
                }
        return res;
    }

    /// <summary>Standardises each column of an (n, nd) row-major matrix to mean 0, variance 1.</summary>
    internal static void Standardise(double[] a, int n, int nd)
    {
        for (int v = 0; v < nd; v++)
        {
            double m = 0, q = 0;
            for (long i = 0; i < n; i++) m += a[i * nd + v];
            m /= n;
            for (long i = 0; i < n; i++) q += (a[i * nd + v] - m) * (a[i * nd + v] - m);
            double sd = Math.Sqrt(q / Math.Max(1, n - 1));
            if (!(sd > 1e-12)) sd = 1;
            for (long i = 0; i < n; i++) a[i * nd + v] = (a[i * nd + v] - m) / sd;
        }
    }

    /// <summary>True when <paramref name="dir"/> exists and holds any file or folder.</summary>
    public static bool IsNonEmptyDirectory(string dir) =>
        Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any();

    /// <summary>The voxel fields of both worlds' ground-truth JSON (counts, kinds, ROI, low/category mix, files), in
    /// this order, so each world's file keeps its layout.</summary>
    static void AddVoxelFields(JsonObject json, int nd, int nSem, int nLow,
        IReadOnlyList<(VoxelKind Kind, string Roi, double Low, double Cat)> voxels, Dictionary<string, string> files)
    {
        static JsonArray Arr(IEnumerable<double> xs) =>
            new(xs.Select(x => (JsonNode)JsonValue.Create(Math.Round(x, 5))).ToArray());
        var kinds = voxels.GroupBy(v => v.Kind).ToDictionary(g => g.Key.ToString().ToLowerInvariant(), g => g.Count());
        json["voxels_detail"] = nd;
        json["voxels_semantic"] = nSem;
        json["voxels_low"] = nLow;
        json["voxel_kinds"] = new JsonObject(kinds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        json["voxel_kind_codes"] =
            "0 = prf (low-level, prf-visualrois), 1 = floc (category), 2 = mixed (other nsdgeneral)";
        json["voxel_roi"] = new JsonArray(voxels.Select(v => (JsonNode)v.Roi).ToArray());
        json["voxel_mix"] = new JsonObject
        {
            ["low"] = Arr(voxels.Select(v => v.Low)),
            ["category"] = Arr(voxels.Select(v => v.Cat)),
        };
        json["files"] = new JsonObject(files.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
    }
}
