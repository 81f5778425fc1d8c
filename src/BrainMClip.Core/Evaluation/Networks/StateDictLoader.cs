using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// Copies a torchvision-named state dict (from safetensors, any float dtype) into a TorchSharp module with exact key
/// and shape checks. Keys the metric does not need (classifiers, auxiliary heads, BatchNorm's
/// <c>num_batches_tracked</c>) may be absent; every other module key must be present with the module's shape.
/// </summary>
public static class StateDictLoader
{
    public sealed record LoadReport(int Loaded, IReadOnlyList<string> SkippedOptional, IReadOnlyList<string> Unexpected);

    public static LoadReport LoadFile(nn.Module module, string path, Func<string, bool> optional)
    {
        var tensors = SafeTensors.Load(path);
        try { return Load(module, tensors, path, optional); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string sourceName, Func<string, bool> optional)
    {
        var target = module.state_dict();
        var missing = new List<string>();
        var skipped = new List<string>();
        int loaded = 0;
        using (no_grad())
        {
            foreach (var (key, dst) in target)
            {
                if (!source.TryGetValue(key, out var src))
                {
                    if (optional(key) || key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) skipped.Add(key);
                    else missing.Add(key);
                    continue;
                }
                if (!src.shape.SequenceEqual(dst.shape))
                    throw new UserInputException($"{sourceName}: tensor '{key}' has shape [{string.Join(",", src.shape)}] but the network expects [{string.Join(",", dst.shape)}]");
                if (dst.is_floating_point() != src.is_floating_point() && !key.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
                    throw new UserInputException($"{sourceName}: tensor '{key}' has dtype {src.dtype}; a floating-point tensor is expected");
                dst.copy_(src.to_type(dst.dtype));
                loaded++;
            }
        }
        if (missing.Count > 0)
            throw new UserInputException($"{sourceName}: {missing.Count} weights the network needs are missing, e.g. {string.Join(", ", missing.Take(6))}" +
                                         (source.Keys.Any(k => k.StartsWith("module.", StringComparison.Ordinal)) ? " (keys start with 'module.': strip that prefix when converting, see docs/metrics-weights.md)" : ""));
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        return new LoadReport(loaded, skipped, unexpected);
    }
}
