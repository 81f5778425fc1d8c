using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Models;

/// <summary>Diffusers weight files of a model folder: finding, strict loading (<see cref="StateDictLoader"/>),
/// saving.</summary>
public static class WeightLoader
{
    /// <summary>File names a diffusers model folder may hold its weights under, in the order they are
    /// preferred.</summary>
    public static readonly string[] WeightFileNames =
    [
        "diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.bin", "pytorch_model.bin",
    ];

    /// <summary>The weight file of a diffusers model folder: safetensors preferred, else a PyTorch .bin.</summary>
    public static string FindWeights(string folder)
    {
        UserInputException.RequireDirectory(folder, "model folder");
        foreach (var name in WeightFileNames)
        {
            var p = Path.Combine(folder, name);
            if (File.Exists(p)) return p;
        }
        throw new UserInputException(
            $"{folder}: no weights found (expected one of {string.Join(", ", WeightFileNames)})");
    }

    /// <param name="rename">Maps a file key to a model key (legacy names); identity when null.</param>
    /// <param name="reshape">Adjusts a file tensor before the shape check (e.g. 1×1-conv attention weights); may return
    /// the input.</param>
    /// <param name="ignored">File keys the module leaves out on purpose (e.g. a decoder-only VAE's encoder).</param>
    public static void Load(nn.Module module, string path, Func<string, string>? rename = null,
        Func<string, Tensor, Tensor>? reshape = null, Func<string, bool>? ignored = null) =>
        StateDictLoader.LoadFiles(module, [path],
            new StateDictOptions
            {
                Rename = rename,
                Reshape = reshape,
                Ignored = ignored,
                What = "the model built from config.json",
            });

    /// <summary>Writes a module's state dict as a diffusers weight file (atomic; sorted keys).</summary>
    public static void Save(nn.Module module, string path, ScalarType? castTo = null)
    {
        var sd = module.state_dict();
        SafeTensors.Save(path, sd, new Dictionary<string, string> { ["format"] = "pt" }, castTo);
    }
}
