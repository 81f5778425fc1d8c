using System.Runtime.CompilerServices;
using PureHDF;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace BrainMClip.IO;

/// <summary>
/// A hardened read-only view of an HDF5 file through PureHDF. PureHDF trusts the file's metadata: on a corrupt file
/// it throws its own exception types, can loop over cyclic B-tree pointers, or allocate what a header claims. So
/// every call here (1) turns any failure into a <see cref="UserInputException"/> naming the file, (2) reads through a
/// stream with an I/O budget per call (a parser that keeps reading long past the file's size is looping), (3) runs
/// under a time limit, and (4) refuses datasets and chunks whose claimed size the file cannot hold.
/// </summary>
public sealed class Hdf5File : IDisposable
{
    /// <summary>Deflate's maximum compression ratio is about 1032:1; filtered chunks cannot legitimately expand
    /// more.</summary>
    const long MaxExpansion = 1100;

    readonly BudgetStream _stream;
    readonly NativeFile _file;
    readonly TimeSpan _timeout;

    public string Path { get; }
    /// <summary>The file's real size in bytes, the basis of every allocation cap.</summary>
    public long Length { get; }

    Hdf5File(string path, BudgetStream stream, NativeFile file, TimeSpan timeout)
    {
        Path = path; _stream = stream; _file = file; _timeout = timeout; Length = stream.Length;
    }

    /// <summary>Opens <paramref name="path"/>; <paramref name="timeout"/> bounds each metadata or read call (default 60
    /// s).</summary>
    public static Hdf5File Open(string path, TimeSpan? timeout = null)
    {
        UserInputException.RequireFile(path, "HDF5 file");
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        FileStream fs;
        try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{path}: cannot open the HDF5 file ({e.Message})");
        }
        var stream = new BudgetStream(fs);
        try
        {
            var file = Guard(path, stream, limit, "opening the file", () => H5File.Open(stream, leaveOpen: true));
            return new Hdf5File(path, stream, file, limit);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The dataset at <paramref name="name"/> (a path such as "images" or "stimuli/images").</summary>
    public Hdf5Dataset Dataset(string name)
    {
        var (ds, dims, cls, size, layout,
            chunks) = Run<(IH5Dataset, ulong[], H5DataTypeClass, int, H5DataLayoutClass, uint[])>($"dataset '{name}'",
            () =>
        {
            if (!_file.LinkExists(name))
                throw new UserInputException(
                    $"{Path}: HDF5 dataset '{name}' not found (top level has: " +
                    $"{string.Join(", ", _file.Children().Select(c => c.Name).Take(10))})");
            var obj = _file.Get(name);
            if (obj is not IH5Dataset d)
                throw new UserInputException(
                    $"{Path}: HDF5 object '{name}' is a " +
                    $"{obj.GetType().Name.Replace("Native", "").ToLowerInvariant()}, not a dataset");
            var l = d.Layout;
            return (d, d.Space.Dimensions.ToArray(), d.Type.Class, d.Type.Size, l.Class,
                l.Class == H5DataLayoutClass.Chunked ? l.Chunks.Select(c => (uint)c).ToArray() : Array.Empty<uint>());
        });
        string where = $"{Path}:{name}";
        if (size is <= 0 or > 16)
            throw new UserInputException($"{where}: element size {size} bytes is invalid (corrupt datatype?)");
        if (layout == H5DataLayoutClass.VirtualStorage)
            throw new UserInputException($"{where}: virtual datasets (data in other files) are not supported");
        long cap = layout == H5DataLayoutClass.Chunked ? SatMul(Length, MaxExpansion) : Length;
        long total = Bytes(dims.Select(d => d), size);
        if (total > cap)
            throw new UserInputException(
                $"{where}: dataset claims shape ({string.Join(", ", dims)}) of {size}-byte elements " +
                $"({(total == long.MaxValue ? "more than 2^63" : total.ToString())} bytes), more than this " +
                    $"{Length}-byte file can hold (corrupt or truncated file?)");
        // Chunk dims (rank + 1 entries in HDF5 1.8 layouts: the last is the element size) bound PureHDF's chunk buffer.
        if (chunks.Length > 0
            && (chunks.Any(c => c == 0)
            || Bytes(chunks.Select(c => (ulong)c), 1) > SatMul(Length, MaxExpansion) * Math.Max(1, size)))
            throw new UserInputException(
                $"{where}: chunk shape ({string.Join(", ", chunks)}) is invalid for this {Length}-byte file (corrupt " +
                $"file?)");
        return new Hdf5Dataset(this, ds, name, dims, cls, size);
    }

    internal T Run<T>(string what, Func<T> action) => Guard(Path, _stream, _timeout, what, action);

    static T Guard<T>(string path, BudgetStream stream, TimeSpan timeout, string what, Func<T> action)
    {
        // Allow reading the whole file many times over per call (B-tree walks re-read nodes), but not without end.
        stream.ResetBudget(SatMul(stream.Length, 64) + (1L << 24));
        var task = Task.Factory.StartNew<(T? Value, Exception? Error)>(() =>
        {
            try { return (action(), null); }
            catch (Exception e) { return (default, e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(timeout))
        {
            stream.Poison(); // a worker stuck in I/O fails at its next read; the caller stops waiting now
            throw new UserInputException(
                $"{path}: HDF5 reader did not finish {what} within {timeout.TotalSeconds:0} s (corrupt file with " +
                $"cyclic metadata?)");
        }
        return task.Result.Error switch
        {
            null => task.Result.Value!,
            UserInputException u => throw u,
            BudgetStream.BudgetExceeded =>
                throw new UserInputException(
                $"{path}: HDF5 reader kept reading far past the file's size while {what} (corrupt file with cyclic " +
                $"metadata?)"),
            var e =>
                throw new UserInputException(
                $"{path}: corrupt or unsupported HDF5 file ({what}: {e.GetType().Name}: {e.Message})", e),
        };
    }

    internal static long SatMul(long a, long b) => a != 0 && b > long.MaxValue / a ? long.MaxValue : a * b;

    /// <summary>Product of the dims times the element size, saturating at long.MaxValue.</summary>
    internal static long Bytes(IEnumerable<ulong> dims, long elementSize)
    {
        long n = elementSize;
        foreach (var d in dims) n = d > long.MaxValue ? (d == 0 ? 0 : long.MaxValue) : SatMul(n, (long)d);
        return n;
    }

    public void Dispose()
    {
        try { _file.Dispose(); } catch (Exception) { /* closing a corrupt file must not mask the real error */ }
        _stream.Dispose();
    }

    /// <summary>A read-only stream that fails once a call has read more than its budget, or after <see
    /// cref="Poison"/>.</summary>
    sealed class BudgetStream(FileStream inner) : Stream
    {
        public sealed class BudgetExceeded() : IOException("I/O budget exceeded");
        long _left;
        volatile bool _poisoned;

        public void ResetBudget(long bytes) => Interlocked.Exchange(ref _left, bytes);
        public void Poison() => _poisoned = true;

        void Charge(int bytes)
        {
            if (_poisoned) throw new ObjectDisposedException(nameof(Hdf5File), "the read timed out");
            // Each call costs at least 64 so loops of tiny or empty reads are bounded too.
            if (Interlocked.Add(ref _left, -Math.Max(64, bytes)) < 0) throw new BudgetExceeded();
        }

        public override int Read(byte[] buffer, int offset, int count)
        { Charge(count); return inner.Read(buffer, offset, count); }
        public override int Read(Span<byte> buffer) { Charge(buffer.Length); return inner.Read(buffer); }
        public override int ReadByte() { Charge(1); return inner.ReadByte(); }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Charge(buffer.Length);
            return inner.ReadAsync(buffer, cancellationToken);
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Charge(count);
            return inner.ReadAsync(buffer, offset, count, cancellationToken);
        }
        public override long Seek(long offset, SeekOrigin origin) { Charge(0); return inner.Seek(offset, origin); }
        public override long Position { get => inner.Position; set { Charge(0); inner.Position = value; } }
        public override long Length => inner.Length;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>A dataset of an <see cref="Hdf5File"/> whose shape and element type were checked against the file's
/// size.</summary>
public sealed class Hdf5Dataset
{
    readonly Hdf5File _file;
    readonly IH5Dataset _ds;

    public string Name { get; }
    public ulong[] Dims { get; }
    public H5DataTypeClass TypeClass { get; }
    /// <summary>Element size in bytes.</summary>
    public int TypeSize { get; }

    internal Hdf5Dataset(Hdf5File file, IH5Dataset ds, string name, ulong[] dims, H5DataTypeClass cls, int size)
    {
        _file = file; _ds = ds; Name = name; Dims = dims; TypeClass = cls; TypeSize = size;
    }

    /// <summary>
    /// Rows [start, start + count) along the first dimension, all of the others, as a flat C-order array.
    /// <typeparamref name="T"/> must have the dataset's element size (byte, Half, float, double, ...).
    /// </summary>
    public T[] ReadRows<T>(long start, int count) where T : unmanaged
    {
        string where = $"{_file.Path}:{Name}";
        if (Unsafe.SizeOf<T>() != TypeSize)
            throw new UserInputException(
                $"{where}: elements are {TypeSize} bytes; cannot read them as {typeof(T).Name}");
        if (Dims.Length == 0 || start < 0 || count < 0 || (ulong)start + (ulong)count > Dims[0])
            throw new UserInputException(
                $"{where}: rows {start}..{start + count} are outside the dataset's " +
                $"{(Dims.Length == 0 ? 0 : Dims[0])} rows");
        ulong[] offset = new ulong[Dims.Length], block = (ulong[])Dims.Clone();
        offset[0] = (ulong)start; block[0] = (ulong)count;
        var sel = new HyperslabSelection(Dims.Length, offset, block);
        var data = _file.Run($"reading rows {start}..{start + count} of '{Name}'", () => _ds.Read<T[]>(sel));
        long expected = Hdf5File.Bytes(block, 1);
        if (data.LongLength != expected)
            throw new UserInputException(
                $"{where}: read {data.LongLength} values for rows {start}..{start + count}, expected {expected} " +
                $"(corrupt file?)");
        return data;
    }
}
