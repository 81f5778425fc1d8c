using BrainMClip.IO;

namespace BrainMClip.Data;

/// <summary>
/// One session of NSD single-trial betas read trial by trial, from a 4-D NIfTI (X×Y×Z×750) or an HDF5 file
/// (dataset <c>betas</c>, 750×Z×Y×X int16). Both store a trial's volume with x fastest, so the same voxel indices
/// (<see cref="FileIndices"/>) serve both.
/// </summary>
public sealed class NsdBetaSession : IDisposable
{
    // HDF5 trials are read in blocks: one hyperslab per trial would re-read (and re-inflate) shared chunks.
    const int Hdf5Block = 25;

    readonly NiftiSeries? _nifti;
    readonly Hdf5File? _h5;
    readonly Hdf5Dataset? _ds;
    short[] _block = [];
    int _blockStart = -1, _blockCount;

    public string Path { get; }
    /// <summary>[nx, ny, nz].</summary>
    public int[] Grid { get; }
    public int Trials { get; }
    int _next;

    NsdBetaSession(string path, int[] grid, int trials, NiftiSeries? nifti, Hdf5File? h5, Hdf5Dataset? ds)
    {
        Path = path; Grid = grid; Trials = trials; _nifti = nifti; _h5 = h5; _ds = ds;
    }

    /// <summary>Opens a session file and checks it holds 750 trials on the grid <paramref name="grid"/>.</summary>
    public static NsdBetaSession Open(string path, NsdBetasFormat format, int[] grid)
    {
        if (format == NsdBetasFormat.Nifti)
        {
            var s = NiftiSeries.Open(path);
            try { Check(path, s.Shape, s.Volumes, grid, "X×Y×Z×750"); }
            catch { s.Dispose(); throw; }
            return new NsdBetaSession(path, s.Shape, s.Volumes, s, null, null);
        }
        var h5 = Hdf5File.Open(path);
        try
        {
            var ds = h5.Dataset(NsdRelease.BetasDataset);
            if (ds.Dims.Length != 4 || ds.TypeClass != PureHDF.H5DataTypeClass.FixedPoint || ds.TypeSize != 2)
                throw new UserInputException(
                    $"{path}:{NsdRelease.BetasDataset}: expected a 4-D int16 dataset (750×Z×Y×X) but it has " +
                    $"{ds.Dims.Length} dims of {ds.TypeSize}-byte {ds.TypeClass}");
            int[] shape = [(int)ds.Dims[3], (int)ds.Dims[2], (int)ds.Dims[1]];
            Check(path + ":" + NsdRelease.BetasDataset, shape, (int)Math.Min(ds.Dims[0], int.MaxValue), grid,
                "750×Z×Y×X (the NIfTI's dims reversed)");
            return new NsdBetaSession(path, shape, (int)ds.Dims[0], null, h5, ds);
        }
        catch { h5.Dispose(); throw; }
    }

    static void Check(string where, int[] shape, int trials, int[] grid, string layout)
    {
        if (trials != NsdRelease.TrialsPerSession)
            throw new UserInputException(
                $"{where}: holds {trials} trials; an NSD session has {NsdRelease.TrialsPerSession} ({layout})");
        if (!shape.SequenceEqual(grid))
            throw new UserInputException(
                $"{where}: volume grid {string.Join("×", shape)} differs from the nsdgeneral mask's " +
                $"{string.Join("×", grid)} (wrong subject or resolution?)");
    }

    /// <summary>Index within one stored volume (x fastest) of each C-order [x,y,z] index in
    /// <paramref name="cOrder"/>.</summary>
    public static int[] FileIndices(int[] grid, IReadOnlyList<int> cOrder)
    {
        int ny = grid[1], nz = grid[2], nx = grid[0];
        var r = new int[cOrder.Count];
        for (int i = 0; i < r.Length; i++)
        {
            int c = cOrder[i], x = c / (ny * nz), y = c / nz % ny, z = c % nz;
            r[i] = (z * ny + y) * nx + x;
        }
        return r;
    }

    /// <summary>The next trial's values at <paramref name="fileIndices"/>, as float32 (what Brain-Diffuser
    /// keeps).</summary>
    public void ReadNext(int[] fileIndices, Span<float> dest)
    {
        if (_nifti != null) { _nifti.ReadNext(fileIndices, dest); _next++; return; }
        int vol = Grid[0] * Grid[1] * Grid[2];
        if (_next >= _blockStart + _blockCount)
        {
            _blockStart = _next;
            _blockCount = Math.Min(Hdf5Block, Trials - _next);
            _block = _ds!.ReadRows<short>(_blockStart, _blockCount);
        }
        var src = _block.AsSpan((_next - _blockStart) * vol, vol);
        for (int i = 0; i < fileIndices.Length; i++) dest[i] = src[fileIndices[i]];
        _next++;
    }

    public void Dispose()
    {
        _nifti?.Dispose();
        _h5?.Dispose();
    }
}
