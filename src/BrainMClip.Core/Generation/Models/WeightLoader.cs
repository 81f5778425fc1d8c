using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Models;

/// <summary>
/// Strict loading of a safetensors state dict into a module: every model key must be present with exactly the same
/// shape and no file key may be left over; errors name the key. Values are cast to the parameter's dtype.
/// </summary>
public static class WeightLoader
{
    /// <summary>The diffusers weight file of a model folder: diffusion_pytorch_model.safetensors or model.safetensors.</summary>
    public static string FindWeights(string folder)
    {
        UserInputException.RequireDirectory(folder, "model folder");
        foreach (var name in new[] { "diffusion_pytorch_model.safetensors", "model.safetensors" })
        {
            var p = Path.Combine(folder, name);
            if (File.Exists(p)) return p;
        }
        if (File.Exists(Path.Combine(folder, "diffusion_pytorch_model.bin")) || File.Exists(Path.Combine(folder, "pytorch_model.bin")))
            throw new UserInputException($"{folder}: only a PyTorch .bin checkpoint was found; convert it to safetensors " +
                                         "(diffusion_pytorch_model.safetensors) first");
        throw new UserInputException($"{folder}: no weights found (expected diffusion_pytorch_model.safetensors or model.safetensors)");
    }

    /// <param name="rename">Maps a file key to a model key (legacy names); identity when null.</param>
    /// <param name="reshape">Adjusts a file tensor before the shape check (e.g. 1×1-conv attention weights); may return the input.</param>
    public static void Load(nn.Module module, string path, Func<string, string>? rename = null,
        Func<string, Tensor, Tensor>? reshape = null)
    {
        var file = SafeTensors.Load(path);
        try
        {
            var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (k, v) in file)
            {
                var key = rename?.Invoke(k) ?? k;
                if (!source.TryAdd(key, v))
                    throw new UserInputException($"{path}: keys '{k}' and another key both map to '{key}'");
            }
            Load(module, source, path, reshape);
        }
        finally
        {
            foreach (var t in file.Values) t.Dispose();
        }
    }

    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string path,
        Func<string, Tensor, Tensor>? reshape = null)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
        if (missing.Count > 0)
        {
            var t = target[missing[0]];
            throw new UserInputException($"{path}: missing key '{missing[0]}' (expected shape {Layers.Shape(t)})" +
                                         (missing.Count > 1 ? $" and {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(5))}" : ""));
        }
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (unexpected.Count > 0)
            throw new UserInputException($"{path}: unexpected key '{unexpected[0]}' not used by the model built from config.json" +
                                         (unexpected.Count > 1 ? $" (and {unexpected.Count - 1} more: {string.Join(", ", unexpected.Skip(1).Take(5))})" : ""));
        using var noGrad = no_grad();
        foreach (var (key, dst) in target)
        {
            var src = source[key];
            var adjusted = reshape?.Invoke(key, src) ?? src;
            if (!adjusted.shape.SequenceEqual(dst.shape))
                throw new UserInputException($"{path}: key '{key}' has shape {Layers.Shape(src)} but the model built from config.json expects {Layers.Shape(dst)}");
            if (!adjusted.is_floating_point() && dst.is_floating_point())
                throw new UserInputException($"{path}: key '{key}' has dtype {adjusted.dtype}; expected a floating-point tensor");
            dst.copy_(adjusted);
            if (!ReferenceEquals(adjusted, src)) adjusted.Dispose();
        }
    }

    /// <summary>Writes a module's state dict as a diffusers weight file (atomic; sorted keys).</summary>
    public static void Save(nn.Module module, string path, ScalarType? castTo = null)
    {
        var sd = module.state_dict();
        SafeTensors.Save(path, sd, new Dictionary<string, string> { ["format"] = "pt" }, castTo);
    }
}
