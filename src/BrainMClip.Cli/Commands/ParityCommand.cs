using System.CommandLine;
using System.Text.Json;
using BrainMClip.Parity;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip parity</c>: run one component on tensors saved from another framework
/// (docs/parity.md).</summary>
public sealed class ParityCommand : ICliCommand
{
    public string[] Path => ["parity"];
    public string Description =>
        "Run one component on input tensors saved from another framework (e.g. PyTorch) and write its outputs under " +
            "the golden tensor names, to check a port or a converted checkpoint. Components: " +
        string.Join("; ", ParityRunner.Components.Select(c => $"{c.Name}: {c.Description}"));

    public void Configure(Command command)
    {
        var component = new Option<string>("--component")
        {
            Description = "Component name: " + string.Join(", ", ParityRunner.Components.Select(c => c.Name)) + ".",
            Required = true
        };
        var model = new Option<string?>("--model")
        { Description = "Model folder or file the component loads (e.g. a Hugging Face CLIP folder)." };
        var inputs = new Option<string>("--inputs")
        { Description = "Input tensors (.safetensors), names as in the golden READMEs.", Required = true };
        var output = new Option<string>("--out")
        { Description = "Output tensors (.safetensors), written atomically.", Required = true };
        var detail = new Option<string?>("--detail-layers")
        {
            Description = "clip-vision: hidden-state range a-b for detail_mean (default 11-20 of 24 layers, scaled " +
            "for other depths)."
        };
        var device = SharedOptions.Device();
        var set = new Option<string[]>("--set")
        {
            Description = "Component-specific settings as key=value (repeatable).",
            AllowMultipleArgumentsPerToken = false
        };
        foreach (var o in new Option[] { component, model, inputs, output, detail, device, set }) command.Options.Add(
            o);
        command.SetAction(p =>
        {
            var settings = new Dictionary<string, string>();
            foreach (var kv in p.GetValue(set) ?? [])
            {
                int eq = kv.IndexOf('=');
                if (eq <= 0) throw new UserInputException($"--set {kv}: expected key=value");
                settings[kv[..eq]] = kv[(eq + 1)..];
            }
            var options = new ParityOptions
            {
                Device = TorchSetup.ParseDevice(p.GetValue(device)!),
                DetailLayers = p.GetValue(detail),
                Settings = settings,
            };
            string outPath = p.GetValue(output)!;
            var names = ParityRunner.RunFiles(p.GetValue(component)!, p.GetValue(model), p.GetValue(inputs)!, outPath,
                options);
            Console.WriteLine(
                JsonSerializer.Serialize(
                new
                {
                    component = p.GetValue(component),
                    output = System.IO.Path.GetFullPath(outPath),
                    tensors = names
                },
                new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
