using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace BrainMClip.IO;

/// <summary>What a weight file holds, judged by its first bytes (not its name: .bin, .pth, .pt and .pth.tar are all
/// torch.save files).</summary>
public enum WeightFileKind
{
    /// <summary>A safetensors file (or anything else: the safetensors reader then says what is wrong).</summary>
    SafeTensors,
    /// <summary>torch.save's zip format (PyTorch 1.6 and later).</summary>
    TorchZip,
    /// <summary>torch.save's pre-1.6 formats: a bare pickle stream or a tar archive.</summary>
    TorchLegacy,
}

/// <summary>
/// Reads PyTorch checkpoints written by <c>torch.save</c> in the zip format (Hugging Face <c>pytorch_model.bin</c>,
/// diffusers <c>diffusion_pytorch_model.bin</c>, torchvision <c>.pth</c>, torch hub <c>.pth.tar</c>) through
/// TorchSharp.PyBridge's unpickler. Only plain state dicts are accepted: a dictionary whose every value is a tensor,
/// or a dictionary with a <c>state_dict</c> entry holding one (training checkpoints, whose other entries are ignored).
/// Everything else is refused by name: the pre-1.6 formats, a whole pickled module, optimizer states, lists.
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>Sniffs the first bytes of <paramref name="path"/>.</summary>
    public static WeightFileKind Kind(string path)
    {
        UserInputException.RequireFile(path, "weight file");
        var head = new byte[262];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n >= 4 && head[0] == 0x50 && head[1] == 0x4B && head[2] == 0x03 && head[3] == 0x04)
            return WeightFileKind.TorchZip;
        // Pickle protocol 2-5 opcode, as the legacy torch.save writes first (its magic number).
        if (n >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5) return WeightFileKind.TorchLegacy;
        // PyTorch <= 0.3 wrote a tar archive ("ustar" at offset 257).
        if (n >= 262 && head.AsSpan(257, 5).SequenceEqual("ustar"u8)) return WeightFileKind.TorchLegacy;
        return WeightFileKind.SafeTensors;
    }

    /// <summary>
    /// The tensors of a zip-format state dict, on the CPU with the file's dtypes and shapes (the caller disposes
    /// them). The whole file is read into memory at once (PyBridge has no public per-tensor reader).
    /// </summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        var kind = Kind(path);
        if (kind == WeightFileKind.TorchLegacy)
            throw new UserInputException(
                $"{path}: a PyTorch checkpoint in the legacy (pre-1.6, non-zip) torch.save format, which is not " +
                $"read; expected torch.save's zip format (re-save it with PyTorch >= 1.6: " +
                $"torch.save(torch.load(f), f)) or safetensors");
        if (kind != WeightFileKind.TorchZip)
            throw new UserInputException(
                $"{path}: not a PyTorch zip checkpoint (expected a file written by torch.save)");
        Hashtable top;
        try { top = PyTorchUnpickler.UnpickleStateDict(path); }
        catch (Exception e) when (e is not UserInputException and not OutOfMemoryException)
        {
            throw new UserInputException(e.Message.Contains("entire model", StringComparison.Ordinal)
                ? $"{path}: holds a whole pickled module (torch.save(model)), not a state dict; expected " +
                  $"torch.save(model.state_dict(), f)"
                : e.Message.Contains("non-contiguous", StringComparison.Ordinal)
                  || e.Message.Contains("out of bounds for storage", StringComparison.Ordinal)
                ? $"{path}: holds a tensor stored as a view (non-contiguous, e.g. transposed, or at an offset into a " +
                  $"larger storage), which TorchSharp.PyBridge cannot rebuild; expected contiguous tensors (re-save " +
                  $"with torch.save({{k: v.contiguous().clone() for k, v in sd.items()}}, f))"
                : e is InvalidCastException
                ? $"{path}: holds something other than a dictionary (e.g. a list or a single tensor); expected a " +
                  $"state dict written by torch.save(model.state_dict(), f)"
                : $"{path}: not a readable PyTorch zip checkpoint of tensors ({e.GetType().Name}: {e.Message}); " +
                  $"expected a state dict written by torch.save", e);
        }
        return Flatten(path, top);
    }

    /// <summary>The state dict inside the unpickled object: itself, or its 'state_dict' entry.</summary>
    static Dictionary<string, Tensor> Flatten(string path, Hashtable top)
    {
        var sd = top["state_dict"] is Hashtable inner ? inner : top;
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        string? problem = null;
        foreach (DictionaryEntry e in sd)
        {
            if (e.Key is string key && e.Value is Tensor t) result[key] = t;
            else problem ??= $"entry '{e.Key}' is {Describe(e.Value)}";
        }
        if (problem is null && result.Count == 0) problem = "it holds no tensors";
        if (problem is null) return result;
        foreach (var t in AllTensors(top)) t.Dispose();
        throw new UserInputException(
            $"{path}: not a plain state dict of tensors ({problem}); expected a dictionary of tensors as " +
            $"torch.save(model.state_dict(), f) writes, or one under a 'state_dict' entry (an optimizer state or a " +
            $"training checkpoint without 'state_dict' is not a model's weights)");
    }

    static IEnumerable<Tensor> AllTensors(object? o) => o switch
    {
        Tensor t => [t],
        IDictionary d => d.Values.Cast<object?>().SelectMany(AllTensors),
        IEnumerable list and not string => list.Cast<object?>().SelectMany(AllTensors),
        _ => [],
    };

    static string Describe(object? v) => v switch
    {
        null => "None",
        IDictionary d => $"a dict of {d.Count} entries",
        string => "a string",
        IEnumerable => "a list",
        bool or int or long or double or float => $"the number {v}",
        _ => $"a {v.GetType().Name}",
    };
}
