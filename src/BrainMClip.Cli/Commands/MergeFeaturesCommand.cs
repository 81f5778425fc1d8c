using System.CommandLine;
using System.Text.Json;
using BrainMClip.Features;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip merge-features</c>: joins the shards of a sharded feature extraction.</summary>
public sealed class MergeFeaturesCommand : ICliCommand
{
    public string[] Path => ["merge-features"];
    public string Description =>
        "Concatenate the shard files of one 'features --shard i/n' extraction in row order. The result is " +
            "byte-identical to an unsharded run with the same --batch.";

    public void Configure(Command command)
    {
        var output = new Option<string>("--out")
        { Description = "Merged feature file (.safetensors), written atomically.", Required = true };
        var shards = new Argument<string[]>("shards")
        {
            Description = "The shard files, in any order (their metadata gives the row order).",
            Arity = ArgumentArity.OneOrMore
        };
        command.Options.Add(output);
        command.Arguments.Add(shards);
        command.SetAction(p =>
        {
            string outPath = p.GetValue(output)!;
            var (rows, n) = FeatureFile.Merge(outPath, p.GetValue(shards)!);
            Console.WriteLine(
                JsonSerializer.Serialize(
                new { output = System.IO.Path.GetFullPath(outPath), samples = rows, shards = n },
                new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
