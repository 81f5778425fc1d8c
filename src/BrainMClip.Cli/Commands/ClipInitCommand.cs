using System.CommandLine;
using BrainMClip.Features;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip clip-init</c>: a seeded random-weight CLIP vision checkpoint in Hugging Face
/// layout.</summary>
public sealed class ClipInitCommand : StageCommand<ClipInitCommand.Request, ClipVisionConfig>
{
    public sealed record Request(string Out, string Preset, int Seed);

    public override string[] Path => ["clip-init"];
    public override string Description =>
        "Write a Hugging Face-layout CLIP vision folder (config.json, model.safetensors, preprocessor_config.json) " +
            "with seeded random weights (CLIP-style init), for demos and tests without a download.";

    readonly Option<string> output = new Option<string>("--out") { Description = "Folder to create.", Required = true };
    readonly Option<string> preset = new Option<string>("--preset")
    {
        Description = "tiny (64 px, patch 8, width 128, 12 layers, projection 64), vit-b-16, vit-b-32 or " +
        "vit-l-14 (the paper's shapes).",
        DefaultValueFactory = _ => "tiny"
    };
    readonly Option<int> seed = new Option<int>("--seed")
    { Description = "Random seed; the same seed gives byte-identical files.", DefaultValueFactory = _ => 0 };

    protected override Option[] Options => [output, preset, seed];

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(output)!, parse.GetValue(preset)!, parse.GetValue(seed));

    public override ClipVisionConfig Execute(Request r)
    {
        var cfg = ClipVisionConfig.Preset(r.Preset);
        ClipCheckpointFactory.CreateRandom(r.Out, cfg, r.Seed);
        return cfg;
    }

    public override object Report(Request r, ClipVisionConfig cfg)
    {
        var (a, b) = cfg.DefaultDetailLayers;
        return new
        {
            output = System.IO.Path.GetFullPath(r.Out),
            preset = r.Preset,
            seed = r.Seed,
            image_size = cfg.ImageSize,
            patch_size = cfg.PatchSize,
            tokens = cfg.NumTokens,
            width = cfg.HiddenSize,
            layers = cfg.NumHiddenLayers,
            projection_dim = cfg.ProjectionDim,
            default_detail_layers = $"{a}-{b}",
        };
    }
}
