using System.Globalization;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>
/// Predicted tokens for one split (test order), the PRED file of <c>brainmclip predict</c>: <c>detail</c> ê_D (N,T,W),
/// <c>semantic</c> ê_S (N,T,P), <c>detail_projected</c> P(ê_D) (N,T,P) and <c>fused</c> =
/// renorm((1−λ)·ê_S + λ·P(ê_D)) (N,T,P). A stream removed by an ablation is absent; then <c>fused</c> is the
/// renormalised remaining stream. This type is the only reader and writer of PRED files.
/// </summary>
public sealed class Predictions : IDisposable
{
    public const string DetailKey = "detail", SemanticKey = "semantic", DetailProjectedKey = "detail_projected",
        FusedKey = "fused";
    const string LambdaKey = "fusion_lambda", ModelKey = "model";

    public Tensor? Detail { get; init; }
    public Tensor? Semantic { get; init; }
    public Tensor? DetailProjected { get; init; }
    /// <summary>Null only for a file loaded without <see cref="FusedKey"/>.</summary>
    public Tensor? Fused { get; init; }
    public double Lambda { get; init; }
    public required string Model { get; init; }

    /// <summary>The tensors present, named as in the file (detail, semantic, detail_projected, fused).</summary>
    public IEnumerable<(string Key, Tensor Tensor)> Named()
    {
        if (Detail is not null) yield return (DetailKey, Detail);
        if (Semantic is not null) yield return (SemanticKey, Semantic);
        if (DetailProjected is not null) yield return (DetailProjectedKey, DetailProjected);
        if (Fused is not null) yield return (FusedKey, Fused);
    }

    public void Save(string path, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var fused = Fused ?? throw new InvalidOperationException("a PRED file always holds 'fused'");
        var t = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [FusedKey] = fused };
        if (Detail is not null) t[DetailKey] = Detail;
        if (Semantic is not null) t[SemanticKey] = Semantic;
        if (DetailProjected is not null) t[DetailProjectedKey] = DetailProjected;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [LambdaKey] = Lambda.ToString("R", CultureInfo.InvariantCulture),
            [ModelKey] = Model,
            ["samples"] = fused.shape[0].ToString(CultureInfo.InvariantCulture),
        };
        if (extraMetadata is not null) foreach (var (k, v) in extraMetadata) meta[k] = v;
        SafeTensors.Save(path, t, meta);
    }

    /// <summary>The tensor names a PRED file holds (reads only its header).</summary>
    public static IReadOnlySet<string> Contents(string path) =>
        SafeTensors.ReadHeader(path).Entries.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Reads the listed tensors of a PRED file, each as stored; a listed tensor the file does not hold stays null
    /// (check <see cref="Contents"/> first where one is required).
    /// </summary>
    public static Predictions Load(string path, params string[] keys)
    {
        var header = SafeTensors.ReadHeader(path);
        var meta = header.Metadata;
        Tensor? Read(string key) =>
            keys.Contains(key) && header.Entries.ContainsKey(key) ? SafeTensors.LoadTensor(path, key) : null;
        return new Predictions
        {
            Detail = Read(DetailKey),
            Semantic = Read(SemanticKey),
            DetailProjected = Read(DetailProjectedKey),
            Fused = Read(FusedKey),
            Lambda = meta.TryGetValue(LambdaKey, out var l) ? double.Parse(l, CultureInfo.InvariantCulture) : double.NaN,
            Model = meta.TryGetValue(ModelKey, out var m) ? m : "",
        };
    }

    public void Dispose()
    {
        Detail?.Dispose(); Semantic?.Dispose(); DetailProjected?.Dispose(); Fused?.Dispose();
    }
}
