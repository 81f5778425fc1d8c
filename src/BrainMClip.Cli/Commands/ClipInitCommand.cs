using System.CommandLine;
using System.Text.Json;
using BrainMClip.Features;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip clip-init</c>: a seeded random-weight CLIP vision checkpoint in Hugging Face
/// layout.</summary>
public sealed class ClipInitCommand : ICliCommand
{
    public string[] Path => ["clip-init"];
    public string Description =>
        "Write a Hugging Face-layout CLIP vision folder (config.json, model.safetensors, preprocessor_config.json) " +
            "with seeded random weights (CLIP-style init), for demos and tests without a download.";

    public void Configure(Command command)
    {
        var output = new Option<string>("--out") { Description = "Folder to create.", Required = true };
        var preset = new Option<string>("--preset")
        {
            Description = "tiny (64 px, patch 8, width 128, 12 layers, projection 64), vit-b-16, vit-b-32 or " +
            "vit-l-14 (the paper's shapes).",
            DefaultValueFactory = _ => "tiny"
        };
        var seed = new Option<int>("--seed")
        { Description = "Random seed; the same seed gives byte-identical files.", DefaultValueFactory = _ => 0 };
        command.Options.Add(output); command.Options.Add(preset); command.Options.Add(seed);
        command.SetAction(p =>
        {
            var cfg = ClipVisionConfig.Preset(p.GetValue(preset)!);
            string dir = p.GetValue(output)!;
            ClipCheckpointFactory.CreateRandom(dir, cfg, p.GetValue(seed));
            var (a, b) = cfg.DefaultDetailLayers;
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                output = System.IO.Path.GetFullPath(dir),
                preset = p.GetValue(preset),
                seed = p.GetValue(seed),
                image_size = cfg.ImageSize,
                patch_size = cfg.PatchSize,
                tokens = cfg.NumTokens,
                width = cfg.HiddenSize,
                layers = cfg.NumHiddenLayers,
                projection_dim = cfg.ProjectionDim,
                default_detail_layers = $"{a}-{b}",
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
