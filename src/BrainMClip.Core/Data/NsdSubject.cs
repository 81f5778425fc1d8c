using System.Buffers.Binary;
using System.Globalization;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Data;

/// <summary>What beta scaling was applied to the fMRI values (for reports): mode auto/none/manual, the divisor and
/// why.</summary>
public sealed record BetaScaling(string Mode, double Divisor)
{
    public string Reason { get; init; } = "";

    /// <summary>NSD betas are percent signal change ×300 (docs/data.md).</summary>
    public const double NsdFactor = 300.0;
    /// <summary>auto: a float file whose absolute mean exceeds this is taken to be ×300 betas.</summary>
    public const double AutoThreshold = 30.0;

    /// <summary>Checks a --beta-scale value: auto, none, or a positive number (the divisor).</summary>
    public static void Validate(string spec) => _ = ParseManual(spec);

    /// <summary>Null for auto; otherwise the fixed scaling.</summary>
    internal static BetaScaling? ParseManual(string spec)
    {
        string s = spec.Trim().ToLowerInvariant();
        if (s == "auto") return null;
        if (s is "none" or "1") return new BetaScaling("none", 1) { Reason = "no scaling requested" };
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0
            && double.IsFinite(d))
            return new BetaScaling("manual", d)
            { Reason = $"divided by {d.ToString(CultureInfo.InvariantCulture)} as requested" };
        throw UserInputException.Invalid("BetaScale",
            $"beta scale '{spec}' is not valid (expected auto, none or a positive number to divide by)");
    }
}

/// <summary>
/// One subject of a Brain-Diffuser-layout data root (docs/data.md): fMRI matrices, stimulus arrays and ROI masks.
/// <see cref="Open"/> checks that every file exists and that all shapes agree (headers only, so it is cheap);
/// values are checked (finite) as they are read.
/// </summary>
public sealed class NsdSubject
{
    public string DataRoot { get; }
    public int Subject { get; }
    public int TrainSamples { get; }
    public int TestSamples { get; }
    /// <summary>[H, W, 3].</summary>
    public int[] ImageShape { get; }
    public VoxelSplit Split { get; }
    /// <summary>Resolved on first use (auto reads the training matrix once to decide).</summary>
    public BetaScaling BetaScale => _beta.Value;
    /// <summary>Number of nsdgeneral voxels (fMRI columns).</summary>
    public int Voxels => Split.Detail.Length;
    public int[] RoiGridShape { get; }

    readonly Dictionary<string, Npy.NpyHeader> _fmri;
    readonly Lazy<BetaScaling> _beta;

    public static readonly string[] Splits = ["train", "test"];

    public string SubjectFolder => $"subj{Subject:00}";
    public string ProcessedDir => Path.Combine(DataRoot, "processed_data", SubjectFolder);
    public string RoiDir => Path.Combine(DataRoot, "nsddata", "ppdata", SubjectFolder, "func1pt8mm", "roi");
    public string FmriPath(string split) =>
        Path.Combine(ProcessedDir, $"nsd_{CheckSplit(split)}_fmriavg_nsdgeneral_sub{Subject}.npy");
    public string StimuliPath(string split) =>
        Path.Combine(ProcessedDir, $"nsd_{CheckSplit(split)}_stim_sub{Subject}.npy");
    public string RoiPath(string mask) => Path.Combine(RoiDir, mask + ".nii.gz");

    /// <summary>Paths of subject <paramref name="subject"/> under <paramref name="dataRoot"/> without opening
    /// anything.</summary>
    public static string FmriPathOf(string dataRoot, int subject, string split) =>
        Path.Combine(dataRoot, "processed_data", $"subj{subject:00}",
            $"nsd_{split}_fmriavg_nsdgeneral_sub{subject}.npy");
    public static string StimuliPathOf(string dataRoot, int subject, string split) =>
        Path.Combine(dataRoot, "processed_data", $"subj{subject:00}", $"nsd_{split}_stim_sub{subject}.npy");
    public static string RoiPathOf(string dataRoot, int subject, string mask) =>
        Path.Combine(dataRoot, "nsddata", "ppdata", $"subj{subject:00}", "func1pt8mm", "roi", mask + ".nii.gz");

    static string CheckSplit(string split) => split is "train" or "test"
        ? split
        : throw UserInputException.Invalid("Split", $"'{split}' is not a split (expected train or test)");

    /// <summary>The subject when none is chosen (1-based; folder subj01).</summary>
    public const int DefaultSubject = 1;

    /// <summary>The fMRI scaling when none is chosen: auto divides NSD's ×300 betas by 300, leaves others
    /// as they are.</summary>
    public const string DefaultBetaScale = "auto";

    /// <summary>Opens and validates subject <paramref name="subject"/> (1-based) of <paramref
    /// name="dataRoot"/>.</summary>
    public static NsdSubject Open(string dataRoot, int subject = DefaultSubject,
        string betaScale = DefaultBetaScale) =>
        new(dataRoot, subject, betaScale);

    /// <summary><see cref="Open"/>, then every fMRI value of both splits read once: NaN/Inf is bad input and
    /// surfaces here (`data info`), not in training.</summary>
    public static NsdSubject OpenChecked(string dataRoot, int subject = DefaultSubject,
        string betaScale = DefaultBetaScale)
    {
        var s = Open(dataRoot, subject, betaScale);
        foreach (var split in Splits) s.ValidateFinite(split);
        return s;
    }

    NsdSubject(string dataRoot, int subject, string betaScale)
    {
        if (subject < 1
            || subject > 99) throw UserInputException.Invalid("Subject",
                $"subject {subject} is out of range (expected 1..99)");
        UserInputException.RequireDirectory(dataRoot, "data root");
        DataRoot = dataRoot;
        Subject = subject;
        var manual = BetaScaling.ParseManual(betaScale);

        // Every file must exist before anything is read, so a missing one is reported by name first.
        foreach (var s in Splits)
        {
            UserInputException.RequireFile(FmriPath(s), $"{s} fMRI matrix");
            UserInputException.RequireFile(StimuliPath(s), $"{s} stimulus array");
        }
        foreach (var m in NsdRois.AllMasks) UserInputException.RequireFile(RoiPath(m), $"ROI mask {m}");

        _fmri = new Dictionary<string, Npy.NpyHeader>();
        var stim = new Dictionary<string, Npy.NpyHeader>();
        foreach (var s in Splits)
        {
            string fp = FmriPath(s);
            var h = Npy.ReadHeader(fp);
            if (h.DType is not (NpyDType.Float64 or NpyDType.Float32 or NpyDType.Int16))
                throw new UserInputException(
                    $"{fp}: unsupported fMRI dtype {h.DType} (expected float64, float32 or int16)");
            if (h.Shape.Length != 2)
                throw new UserInputException(
                    $"{fp}: fMRI matrix must be 2-D (samples, voxels) but has shape ({string.Join(", ", h.Shape)})");
            _fmri[s] = h;

            string sp = StimuliPath(s);
            var g = Npy.ReadHeader(sp);
            if (g.DType is not (NpyDType.UInt8 or NpyDType.Float64 or NpyDType.Float32))
                throw new UserInputException(
                    $"{sp}: unsupported stimulus dtype {g.DType} (expected uint8, or float64/float32 holding 0-255)");
            if (g.Shape.Length != 4 || g.Shape[3] != 3)
                throw new UserInputException(
                    $"{sp}: stimulus array must have shape (samples, H, W, 3) but has ({string.Join(", ", g.Shape)})");
            stim[s] = g;
        }

        var masks = NsdRois.AllMasks.ToDictionary(m => m, m => Nifti.Read(RoiPath(m)));
        Split = VoxelSplit.FromMasks(masks);
        RoiGridShape = masks[NsdRois.NsdGeneral].Shape;

        long trainCols = _fmri["train"].Shape[1], testCols = _fmri["test"].Shape[1];
        if (trainCols != testCols)
            throw new UserInputException(
                $"{FmriPath("test")}: has {testCols} voxel columns but the training matrix {FmriPath("train")} has " +
                    $"{trainCols}; train and test must have the same voxels");
        if (trainCols != Split.Detail.Length)
            throw new UserInputException(
                $"{RoiPath(NsdRois.NsdGeneral)}: nsdgeneral mask has {Split.Detail.Length} voxels (> 0) but the fMRI " +
                    $"matrix {FmriPath("train")} has {trainCols} columns; they must be equal (wrong subject or mask?)");
        foreach (var s in Splits)
        {
            if (stim[s].Shape[0] != _fmri[s].Shape[0])
                throw new UserInputException(
                    $"{StimuliPath(s)}: has {stim[s].Shape[0]} stimuli but the fMRI matrix {FmriPath(s)} has " +
                        $"{_fmri[s].Shape[0]} rows; they must be equal");
        }
        if (stim["train"].Shape[1] != stim["test"].Shape[1] || stim["train"].Shape[2] != stim["test"].Shape[2])
            throw new UserInputException(
                $"{StimuliPath("test")}: images are {stim["test"].Shape[1]}×{stim["test"].Shape[2]} but training " +
                    $"images ({StimuliPath("train")}) are {stim["train"].Shape[1]}×{stim["train"].Shape[2]}");

        TrainSamples = checked((int)_fmri["train"].Shape[0]);
        TestSamples = checked((int)_fmri["test"].Shape[0]);
        ImageShape = [checked((int)stim["train"].Shape[1]), checked((int)stim["train"].Shape[2]), 3];
        _beta = new Lazy<BetaScaling>(() => manual ?? ResolveAuto());
    }

    public int Samples(string split) => CheckSplit(split) == "train" ? TrainSamples : TestSamples;

    public NpyDType FmriDType(string split) => _fmri[CheckSplit(split)].DType;

    BetaScaling ResolveAuto()
    {
        foreach (var s in Splits)
            if (_fmri[s].DType == NpyDType.Int16)
                return new BetaScaling("auto", BetaScaling.NsdFactor)
                { Reason = $"{s} fMRI is int16 (NSD ×300 betas): divided by 300" };
        double sumAbs = 0;
        long n = 0;
        ScanRows("train", 1, (row, values) =>
        {
            foreach (var v in values) sumAbs += Math.Abs(v);
            n += values.Length;
        });
        double mean = n > 0 ? sumAbs / n : 0;
        string m = mean.ToString("G4", CultureInfo.InvariantCulture);
        return mean > BetaScaling.AutoThreshold
            ? new BetaScaling("auto", BetaScaling.NsdFactor)
            { Reason = $"train fMRI |mean| {m} > {BetaScaling.AutoThreshold}: divided by 300" }
            : new BetaScaling("auto", 1)
            { Reason = $"train fMRI |mean| {m} ≤ {BetaScaling.AutoThreshold}: not scaled" };
    }

    /// <summary>
    /// Streams the rows of one split's fMRI matrix as doubles (raw, before beta scaling), failing on the first
    /// NaN/Inf with its row and column. <paramref name="onRow"/> gets (row index, values).
    /// </summary>
    void ScanRows(string split, double divisor, Action<int, double[]> onRow)
    {
        string path = FmriPath(split);
        var h = _fmri[split];
        int rows = checked((int)h.Shape[0]), cols = checked((int)h.Shape[1]);
        int es = Npy.ElementSize(h.DType);
        long rowBytes = (long)cols * es;
        int rowsPerChunk = (int)Math.Max(1, Math.Min(rows, (8L << 20) / Math.Max(1, rowBytes)));
        var buf = new byte[checked(rowsPerChunk * rowBytes)];
        var row = new double[cols];
        using var fs = File.OpenRead(path);
        fs.Seek(h.DataOffset, SeekOrigin.Begin);
        for (int r0 = 0; r0 < rows; r0 += rowsPerChunk)
        {
            int nr = Math.Min(rowsPerChunk, rows - r0);
            try { fs.ReadExactly(buf, 0, checked((int)(nr * rowBytes))); }
            catch (EndOfStreamException) { throw new UserInputException($"{path}: truncated while reading row {r0}"); }
            for (int i = 0; i < nr; i++)
            {
                var span = buf.AsSpan(checked((int)(i * rowBytes)), (int)rowBytes);
                for (int c = 0; c < cols; c++)
                {
                    double v = h.DType switch
                    {
                        NpyDType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(span[(8 * c)..]),
                        NpyDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(span[(4 * c)..]),
                        _ => BinaryPrimitives.ReadInt16LittleEndian(span[(2 * c)..]),
                    };
                    if (!double.IsFinite(v))
                        throw new UserInputException(
                            $"{path}: fMRI value {v.ToString(CultureInfo.InvariantCulture)} at row {r0 + i}, column " +
                            $"{c} (NaN/Inf are not allowed)");
                    row[c] = v / divisor;
                }
                onRow(r0 + i, row);
            }
        }
    }

    /// <summary>Reads the whole fMRI matrix of <paramref name="split"/> once to check every value is finite.</summary>
    public void ValidateFinite(string split) => ScanRows(CheckSplit(split), 1, (_, _) => { });

    /// <summary>float32 (N, N_D): all nsdgeneral voxels, beta-scaled, validated finite.</summary>
    public Tensor LoadFmri(string split) => LoadColumns(split, null);

    /// <summary>float32 (N, n_stream): the columns of <paramref name="stream"/>, beta-scaled, validated
    /// finite.</summary>
    public Tensor LoadStream(string split, VoxelStream stream) => LoadColumns(split, Split.Indices(stream));

    /// <summary>float32 (N, columns.Length) of the given nsdgeneral columns (all when null), beta-scaled.</summary>
    public Tensor LoadColumns(string split, int[]? columns)
    {
        CheckSplit(split);
        int rows = Samples(split);
        if (columns != null)
            foreach (var c in columns)
                if (c < 0 || c >= Voxels) throw new ArgumentOutOfRangeException(nameof(columns),
                    $"column {c} outside 0..{Voxels - 1}");
        int k = columns?.Length ?? Voxels;
        double divisor = BetaScale.Divisor;
        var t = empty(new long[] { rows, k }, ScalarType.Float32);
        try
        {
            ScanRows(split, divisor, (r, values) =>
            {
                unsafe
                {
                    var dst = new Span<float>(TensorMemory.Pointer(t) + (long)r * k * sizeof(float), k);
                    if (columns == null) for (int j = 0; j < k; j++) dst[j] = (float)values[j];
                    else for (int j = 0; j < k; j++) dst[j] = (float)values[columns[j]];
                }
            });
        }
        catch { t.Dispose(); throw; }
        return t;
    }

    /// <summary>The stimulus array of <paramref name="split"/> as stored: uint8 or float (N, H, W, 3).</summary>
    /// <remarks>Real NSD stimulus files (e.g. 8859×425×425×3 = 4.8 GB) exceed one .NET array; read those with
    /// <see cref="LoadStimuliRows"/> in batches.</remarks>
    public NpyArray LoadStimuli(string split) => Npy.Read(StimuliPath(split));

    /// <summary>Rows [start, start+count) of the stimulus array, as stored.</summary>
    public NpyArray LoadStimuliRows(string split, int start, int count) =>
        Npy.ReadRows(StimuliPath(split), start, count);
}
