using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.IO;

/// <summary>
/// Reader and writer for the safetensors format (u64 LE header length, JSON header, raw LE data).
/// Our own implementation rather than PyBridge's so that we keep <c>__metadata__</c>, can read a subset of tensors,
/// validate every header field against the real file size (hostile files must give clear errors, not crashes),
/// and write float16 on request.
/// </summary>
public static class SafeTensors
{
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public sealed class Header
    {
        public required string Path { get; init; }
        public required long DataOffset { get; init; }
        public required IReadOnlyDictionary<string, Entry> Entries { get; init; }
        public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    }

    static readonly Dictionary<string, (ScalarType type, int size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    static string DTypeName(ScalarType t) => DTypes.First(kv => kv.Value.type == t).Key;

    public static Header ReadHeader(string path) =>
        BinaryHeader.Read(path, "safetensors file", fs => ReadHeader(fs, path));

    static Header ReadHeader(FileStream fs, string path)
    {
        long fileLen = fs.Length;
        Span<byte> lenBytes = stackalloc byte[8];
        if (fs.Read(lenBytes) != 8) throw Bad(path, $"file is {fileLen} bytes; too short for a safetensors header");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        var buf = BinaryHeader.ReadBlock(fs, 8, headerLen, 100_000_000)
            ?? throw Bad(path, $"header length {headerLen} does not fit the file size {fileLen}");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(Encoding.UTF8.GetString(buf).TrimEnd(' ', '\0')) as JsonObject
                   ?? throw Bad(path, "header is not a JSON object");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException
            or DecoderFallbackException)
        {
            throw Bad(path, $"header is not valid JSON ({e.Message})");
        }

        long dataOffset = 8 + (long)headerLen, dataLen = fileLen - dataOffset;
        try
        {
            return ParseEntries(root, path, dataOffset, dataLen);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException
            or JsonException or OverflowException)
        {
            throw Bad(path, $"malformed header ({e.Message})");
        }
    }

    static Header ParseEntries(JsonObject root, string path, long dataOffset, long dataLen)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta) metadata[k] = v is JsonValue jv
                        && jv.TryGetValue(out string? s) ? s : v?.ToJsonString() ?? "";
                continue;
            }
            try
            {
                if (node is not JsonObject o) throw Bad(path, $"tensor '{name}': header entry is not an object");
                string dtype = o["dtype"]?.GetValue<string>() ?? throw Bad(path, $"tensor '{name}': missing dtype");
                if (!DTypes.TryGetValue(dtype, out var dt)) throw Bad(path,
                    $"tensor '{name}': unsupported dtype {dtype}");
                var shapeArr = o["shape"] as JsonArray ?? throw Bad(path, $"tensor '{name}': missing shape");
                var shape = shapeArr.Select(x => x!.GetValue<long>()).ToArray();
                var offs = o["data_offsets"] as JsonArray ?? throw Bad(path, $"tensor '{name}': missing data_offsets");
                if (offs.Count != 2) throw Bad(path, $"tensor '{name}': data_offsets must have 2 entries");
                long begin = offs[0]!.GetValue<long>(), end = offs[1]!.GetValue<long>();
                if (shape.Any(d => d < 0)) throw Bad(path,
                    $"tensor '{name}': negative dimension in shape [{string.Join(",", shape)}]");
                long bytes = BinaryHeader.ByteCount(shape, dt.size);
                if (begin < 0 || end < begin || end > dataLen || end - begin != bytes)
                    throw Bad(path,
                        $"tensor '{name}': data_offsets [{begin},{end}] do not match shape " +
                        $"[{string.Join(",", shape)}] {dtype} ({bytes} bytes) within {dataLen} data bytes");
                entries[name] = new Entry(name, dtype, shape, begin, end);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException
                or JsonException)
            {
                throw Bad(path, $"tensor '{name}': malformed header entry ({e.Message})");
            }
        }
        return new Header { Path = path, DataOffset = dataOffset, Entries = entries, Metadata = metadata };
    }

    static UserInputException Bad(string path, string what) => new($"{path}: not a valid safetensors file: {what}");

    /// <summary>Loads tensors (all, or those named in <paramref name="names"/>) as CPU tensors of their stored
    /// dtype.</summary>
    public static Dictionary<string, Tensor> Load(string path, IEnumerable<string>? names = null) =>
        Load(path, out _, names);

    public static Dictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata,
        IEnumerable<string>? names = null)
    {
        UserInputException.RequireFile(path, "safetensors file");
        using var fs = BulkFile.OpenRead(path);
        var header = ReadHeader(fs, path);
        metadata = header.Metadata;
        var wanted = names?.ToList() ?? header.Entries.Keys.ToList();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in wanted)
        {
            if (!header.Entries.TryGetValue(name, out var e))
                throw new UserInputException(
                    $"{path}: tensor '{name}' not found (file has: " +
                    $"{string.Join(", ", header.Entries.Keys.Take(20))}{(header.Entries.Count > 20 ? ", ..." : "")})");
            result[name] = ReadEntry(fs, header, e);
        }
        return result;
    }

    /// <summary>Reads one tensor; <paramref name="rowStart"/>/<paramref name="rowCount"/> read a slice of the first
    /// dimension.</summary>
    public static Tensor LoadTensor(string path, string name, long rowStart = 0, long rowCount = -1)
    {
        UserInputException.RequireFile(path, "safetensors file");
        using var fs = BulkFile.OpenRead(path);
        var header = ReadHeader(fs, path);
        if (!header.Entries.TryGetValue(name, out var e))
            throw new UserInputException($"{path}: tensor '{name}' not found");
        return ReadEntry(fs, header, e, rowStart, rowCount);
    }

    static Tensor ReadEntry(FileStream fs, Header h, Entry e, long rowStart = 0, long rowCount = -1)
    {
        var (type, size) = DTypes[e.DType];
        long[] shape = (long[])e.Shape.Clone();
        long rowBytes = e.End - e.Begin, begin = e.Begin;
        if (shape.Length > 0 && (rowStart != 0 || rowCount >= 0))
        {
            long rows = shape[0];
            if (rowCount < 0) rowCount = rows - rowStart;
            if (rowStart < 0 || rowStart + rowCount > rows)
                throw new UserInputException(
                    $"{h.Path}: rows {rowStart}..{rowStart + rowCount} out of range for '{e.Name}' with {rows} rows");
            long per = rows == 0 ? 0 : (e.End - e.Begin) / rows;
            begin += rowStart * per; rowBytes = rowCount * per; shape[0] = rowCount;
        }
        var t = empty(shape, type);
        if (rowBytes > 0)
        {
            fs.Seek(h.DataOffset + begin, SeekOrigin.Begin);
            unsafe
            {
                var span = new Span<byte>(TensorMemory.Pointer(t), checked((int)Math.Min(rowBytes, int.MaxValue)));
                if (rowBytes <= int.MaxValue) fs.ReadExactly(span);
                else
                {
                    // Very large tensors: read in chunks.
                    byte* p = TensorMemory.Pointer(t); long left = rowBytes;
                    while (left > 0)
                    {
                        int n = (int)Math.Min(left, 1 << 30);
                        fs.ReadExactly(new Span<byte>(p, n)); p += n; left -= n;
                    }
                }
            }
        }
        _ = size;
        return t;
    }

    /// <summary>The header entry of one tensor (dtype name as in the format, e.g. "F32").</summary>
    public static JsonObject EntryJson(string dtype, long[] shape, long begin, long end) => new()
    {
        ["dtype"] = dtype,
        ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
        ["data_offsets"] = new JsonArray(begin, end),
    };

    /// <summary>Writes the length prefix and the JSON header, space-padded to a multiple of 8 bytes.</summary>
    public static void WriteHeader(Stream s, JsonObject header)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - headerBytes.Length % 8) % 8;
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(headerBytes.Length + pad));
        s.Write(len);
        s.Write(headerBytes);
        for (int i = 0; i < pad; i++) s.WriteByte((byte)' ');
    }

    /// <summary>
    /// Writes tensors atomically, in sorted key order (as the Python library does), with optional string metadata.
    /// Tensors are written in their own dtype; pass <paramref name="castFloatTo"/> to store floating tensors as e.g.
    /// Float16.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, ScalarType? castFloatTo = null)
    {
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var prepared = new List<Tensor>();
        try
        {
            var header = new JsonObject();
            if (metadata is { Count: > 0 })
            {
                var m = new JsonObject();
                foreach (var (k, v) in metadata) m[k] = v;
                header["__metadata__"] = m;
            }
            long offset = 0;
            foreach (var n in names)
            {
                var t = tensors[n].detach().cpu();
                if (castFloatTo is { } ct && t.is_floating_point() && t.dtype != ct) t = t.to_type(ct);
                t = t.contiguous();
                prepared.Add(t);
                long bytes = t.numel() * t.element_size();
                header[n] = EntryJson(DTypeName(t.dtype), t.shape, offset, offset + bytes);
                offset += bytes;
            }
            AtomicFile.Write(path, s =>
            {
                WriteHeader(s, header);
                foreach (var t in prepared)
                {
                    long bytes = t.numel() * t.element_size();
                    if (bytes == 0) continue;
                    unsafe
                    {
                        byte* p = TensorMemory.Pointer(t); long left = bytes;
                        while (left > 0)
                        {
                            int n = (int)Math.Min(left, 1 << 30);
                            s.Write(new ReadOnlySpan<byte>(p, n)); p += n; left -= n;
                        }
                    }
                }
            });
        }
        finally
        {
            foreach (var t in prepared) t.Dispose();
        }
    }
}
