using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evidence;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip evidence check`: exit 1 naming the first generated number that drifted from its JSON.
/// </summary>
public sealed class EvidenceCheckCommand : ICliCommand
{
    public string[] Path => ["evidence", "check"];
    public string Description =>
        "Re-render every generated block of README.md and docs/*.md under --root from its template and JSON; exit 0 " +
        "when all match, 1 naming the first drift (file:line, block, the text found, the text the source gives).";

    public void Configure(Command command)
    {
        var root = new Option<string>("--root")
        { Description = "The repository root.", DefaultValueFactory = _ => "." };
        command.Options.Add(root);
        command.SetAction(parse =>
        {
            var (drift, blocks) = EvidenceReport.Check(parse.GetValue(root)!);
            if (drift is not null)
            {
                Console.Error.WriteLine($"evidence check: {drift}");
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    ok = false,
                    file = drift.File,
                    line = drift.Line,
                    block = drift.Block,
                    found = drift.Found,
                    expected = drift.Expected,
                    source = drift.Source,
                }, new JsonSerializerOptions { WriteIndented = true }));
                return 1;
            }
            Console.WriteLine(JsonSerializer.Serialize(new { ok = true, blocks },
                new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
