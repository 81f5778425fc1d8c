using BrainMClip.Features;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// CLIP feature targets (docs/features.md): <c>detail</c> (N,T,W) and <c>semantic</c> (N,T,P), rows in stimulus order.
/// Small files are held in memory; files larger than <see cref="InMemoryLimitBytes"/> are read row by row on demand
/// (the paper's 8859×257×1024 detail tensor is 9 GB), so training memory does not grow with the data set.
/// </summary>
public sealed class FeatureStore : IDisposable
{
    public const long InMemoryLimitBytes = 2L << 30;

    readonly string? _path;
    readonly Tensor? _detail, _semantic;
    // A view (see Select/DetailFromSemantic): row i of this store is row _rowMap[i] of the parent's data, and the
    // detail target may be read from the semantic tensor. Views share the parent's data and do not own it.
    readonly Tensor? _rowMap;
    readonly string _detailName = "detail";
    readonly bool _ownsData = true;

    public long Rows { get; }
    public int Tokens { get; }
    public int DetailWidth { get; }
    public int SemanticWidth { get; }
    public string Source => _path ?? "(in memory)";

    /// <summary>Wraps in-memory tensors (float32 copies are kept).</summary>
    public FeatureStore(Tensor detail, Tensor semantic)
    {
        Check(detail, semantic, "(in memory)");
        _detail = detail.to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        _semantic = semantic.to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        Rows = detail.shape[0]; Tokens = (int)detail.shape[1];
        DetailWidth = (int)detail.shape[2]; SemanticWidth = (int)semantic.shape[2];
    }

    FeatureStore(string path, SafeTensors.Header h)
    {
        _path = path;
        var d = h.Entries["detail"]; var s = h.Entries["semantic"];
        Rows = d.Shape[0]; Tokens = (int)d.Shape[1]; DetailWidth = (int)d.Shape[2]; SemanticWidth = (int)s.Shape[2];
        if ((d.End - d.Begin) + (s.End - s.Begin) <= InMemoryLimitBytes)
        {
            using var scope = NewDisposeScope();
            var all = FeatureFile.ReadAll(path, [FeatureFile.Detail, FeatureFile.Semantic]);
            _detail = all["detail"].to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
            _semantic = all["semantic"].to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        }
    }

    FeatureStore(FeatureStore parent, Tensor? rowMap, bool detailFromSemantic)
    {
        _path = parent._path; _detail = parent._detail; _semantic = parent._semantic; _ownsData = false;
        _detailName = detailFromSemantic ? "semantic" : parent._detailName;
        _rowMap = rowMap is null ? parent._rowMap?.clone().DetachFromDisposeScope()
            : (parent._rowMap is null ? rowMap.clone() : parent._rowMap.index_select(0, rowMap))
                .DetachFromDisposeScope();
        Rows = _rowMap?.shape[0] ?? parent.Rows; Tokens = parent.Tokens;
        DetailWidth = _detailName == "semantic" ? parent.SemanticWidth : parent.DetailWidth;
        SemanticWidth = parent.SemanticWidth;
    }

    /// <summary>A view of the rows <paramref name="rows"/> (int64 indices), e.g. a training subset of a learning
    /// curve.</summary>
    public FeatureStore Select(Tensor rows) => new(this, rows, detailFromSemantic: false);

    /// <summary>
    /// A view whose detail target is the semantic (final-layer) tensor: the "final layer only" ablation, in which
    /// both streams are trained towards the last CLIP layer.
    /// </summary>
    public FeatureStore DetailFromSemantic() => new(this, null, detailFromSemantic: true);

    /// <summary>Opens a features file, checking that it holds <c>detail</c> (N,T,W) and <c>semantic</c>
    /// (N,T,P).</summary>
    public static FeatureStore Open(string path)
    {
        var h = FeatureFile.ReadHeader(path);
        foreach (var name in new[] { "detail", "semantic" })
        {
            if (!h.Entries.TryGetValue(name, out var e))
                throw new UserInputException(
                    $"{path}: features file has no '{name}' tensor (expected 'detail' (N,T,W) and 'semantic' " +
                    $"(N,T,P), as written by 'brainmclip features')");
            if (e.Shape.Length != 3)
                throw new UserInputException(
                    $"{path}: '{name}' has shape [{string.Join(",", e.Shape)}]; expected 3 dimensions (N,T,C)");
            if (e.DType is not ("F32" or "F16" or "BF16" or "F64"))
                throw new UserInputException($"{path}: '{name}' has dtype {e.DType}; expected a floating type");
        }
        var d = h.Entries["detail"].Shape; var s = h.Entries["semantic"].Shape;
        if (d[0] != s[0] || d[1] != s[1])
            throw new UserInputException(
                $"{path}: 'detail' [{string.Join(",", d)}] and 'semantic' [{string.Join(",", s)}] disagree in " +
                $"samples or tokens");
        return new FeatureStore(path, h);
    }

    static void Check(Tensor detail, Tensor semantic, string src)
    {
        if (detail.dim() != 3 || semantic.dim() != 3 || detail.shape[0] != semantic.shape[0]
            || detail.shape[1] != semantic.shape[1])
            throw new UserInputException(
                $"{src}: features must be detail (N,T,W) and semantic (N,T,P) with equal N and T; got " +
                $"[{string.Join(",", detail.shape)}] and [{string.Join(",", semantic.shape)}]");
    }

    public Tensor Detail(Tensor rows) => _detailName == "semantic" ? Semantic(rows) : Gather(_detail, "detail", rows);
    public Tensor Semantic(Tensor rows) => Gather(_semantic, "semantic", rows);

    /// <summary>All rows (for ridge and evaluation); avoid for very large files.</summary>
    public Tensor AllDetail() => Detail(arange(Rows));
    public Tensor AllSemantic() => Semantic(arange(Rows));

    Tensor Gather(Tensor? memory, string name, Tensor rows)
    {
        if (_rowMap is not null)
        {
            using var scope = NewDisposeScope();
            return GatherRows(memory, name, _rowMap.index_select(0, rows)).MoveToOuterDisposeScope();
        }
        return GatherRows(memory, name, rows);
    }

    Tensor GatherRows(Tensor? memory, string name, Tensor rows)
    {
        if (memory is not null) return memory.index_select(0, rows);
        var idx = rows.data<long>().ToArray();
        var parts = new Tensor[idx.Length];
        for (int i = 0; i < idx.Length; i++)
            parts[i] = FeatureFile.Read(_path!, name, idx[i], 1).to_type(ScalarType.Float32);
        var r = cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return r;
    }

    public void Dispose()
    {
        _rowMap?.Dispose();
        if (!_ownsData) return;
        _detail?.Dispose();
        _semantic?.Dispose();
    }
}
