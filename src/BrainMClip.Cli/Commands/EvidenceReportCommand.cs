using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evidence;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip evidence report`: writes the generated blocks of the docs from their JSON.</summary>
public sealed class EvidenceReportCommand : ICliCommand
{
    public string[] Path => ["evidence", "report"];
    public string Description =>
        "Rewrite every generated block (<!-- evidence:NAME --> ... <!-- /evidence:NAME -->) of README.md and " +
        "docs/*.md under --root from its template docs/evidence/blocks/NAME.md, whose {{SOURCE:PATH|FORMAT}} " +
        "placeholders read committed JSON.";

    public void Configure(Command command)
    {
        var root = new Option<string>("--root")
        { Description = "The repository root.", DefaultValueFactory = _ => "." };
        command.Options.Add(root);
        command.SetAction(parse =>
        {
            var s = EvidenceReport.Write(parse.GetValue(root)!);
            Console.WriteLine(JsonSerializer.Serialize(new { files = s.Files, blocks = s.Blocks, changed = s.Changed },
                new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
