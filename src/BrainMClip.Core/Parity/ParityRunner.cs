using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Parity;

/// <summary>Options shared by every parity component (<c>brainmclip parity</c>, docs/parity.md).</summary>
public sealed record ParityOptions
{
    public Device Device { get; init; } = CPU;
    /// <summary>The <c>--detail-layers a-b</c> text, when given (clip-vision).</summary>
    public string? DetailLayers { get; init; }
    /// <summary>Free-form <c>--set key=value</c> settings, for component-specific knobs.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// One component that <c>brainmclip parity</c> can run: it reads the input tensors it recognises (names as in the
/// golden READMEs) and adds every output it can compute. Implementations anywhere in BrainMClip.Core are found by
/// reflection (public or internal, parameterless constructor), so adding a component is adding one file.
/// </summary>
public interface IParityComponent
{
    /// <summary>The <c>--component</c> name, e.g. "clip-vision".</summary>
    string Name { get; }
    /// <summary>One line for --help: what the model argument is and which tensors are read and written.</summary>
    string Description { get; }
    /// <summary>Computes outputs; throws <see cref="UserInputException"/> when nothing recognisable is in the
    /// inputs.</summary>
    void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options);
}

public static class ParityRunner
{
    /// <summary>All components in this assembly, by name.</summary>
    public static IReadOnlyList<IParityComponent> Components { get; } = typeof(IParityComponent).Assembly.GetTypes()
        .Where(t => typeof(IParityComponent).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }
                    && t.GetConstructor(Type.EmptyTypes) != null)
        .Select(t => (IParityComponent)Activator.CreateInstance(t)!)
        .OrderBy(c => c.Name, StringComparer.Ordinal)
        .ToList();

    public static IParityComponent Find(string name) =>
        Components.FirstOrDefault(c => c.Name == name)
        ?? throw new UserInputException(
            $"unknown parity component '{name}'; available: {string.Join(", ", Components.Select(c => c.Name))}");

    /// <summary>Loads IN, runs the component, writes OUT atomically; returns the names written.</summary>
    public static IReadOnlyList<string> RunFiles(string component, string? model, string inputsPath, string outPath,
        ParityOptions options)
    {
        var c = Find(component);
        var inputs = SafeTensors.Load(inputsPath);
        var outputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            c.Run(model, inputs, outputs, options);
            if (outputs.Count == 0)
                throw new UserInputException(
                    $"{inputsPath}: component '{c.Name}' found no input tensor it recognises (inputs: " +
                    $"{string.Join(", ", inputs.Keys)})");
            var meta = new Dictionary<string, string> { ["component"] = c.Name };
            if (model != null) meta["model"] = model;
            SafeTensors.Save(outPath, outputs.ToDictionary(kv => kv.Key, kv => kv.Value.cpu()), meta);
            return outputs.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        }
        finally
        {
            foreach (var t in inputs.Values) t.Dispose();
            foreach (var t in outputs.Values) t.Dispose();
        }
    }
}
