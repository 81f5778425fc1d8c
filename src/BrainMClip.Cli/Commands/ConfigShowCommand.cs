using System.CommandLine;
using System.Text.Json.Nodes;
using BrainMClip.Model;

namespace BrainMClip.Cli.Commands;

/// <summary>
/// `brainmclip config show`: the resolved configuration of a preset or file, with its SHA-256 — the identity the
/// preregistration (docs/evidence/preregistration.md) freezes and `train` prints for what it trained.
/// </summary>
public sealed class ConfigShowCommand : StageCommand<ConfigShowCommand.Request, BrainMClipConfig>
{
    public sealed record Request(string Config, long? Seed);

    public override string[] Path => ["config", "show"];
    public override string Description =>
        "Print the resolved configuration of a preset or config .json (every field, defaults filled in) and its " +
        "SHA-256 (of the JSON `train` writes to RUN/config.json, for features of the preset's widths).";

    readonly Option<string> config = new Option<string>("--config")
    {
        Description = $"A preset ({string.Join(", ", BrainMClipConfig.PresetNames)}) or a config .json file.",
        Required = true,
    };
    readonly Option<long?> seed = SharedOptions.SeedOverride();

    protected override Option[] Options => [config, seed];

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(config)!, parse.GetValue(seed));

    public override BrainMClipConfig Execute(Request r)
    {
        var cfg = BrainMClipConfig.Resolve(r.Config);
        return r.Seed is { } s ? cfg with { Training = cfg.Training with { Seed = s } } : cfg;
    }

    public override object Report(Request request, BrainMClipConfig cfg) => new JsonObject
    {
        ["config"] = cfg.Name,
        ["sha256"] = cfg.Sha256(),
        ["resolved"] = JsonNode.Parse(cfg.ToJson()),
    };
}
