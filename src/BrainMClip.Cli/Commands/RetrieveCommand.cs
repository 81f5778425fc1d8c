using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evaluation;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip retrieve`: top-1 retrieval (docs/evaluation.md) of predicted tokens against the test
/// features.</summary>
public sealed class RetrieveCommand : ICliCommand
{
    public string[] Path => ["retrieve"];
    public string Description =>
        "Top-1 retrieval (docs/evaluation.md): loops of --batch test samples drawn without replacement; flattened, " +
            "L2-normalised " +
        "tokens; image→brain and brain→image; mean over loops. Prints JSON per stream (semantic, detail).";

    public void Configure(Command command)
    {
        var pred = new Option<string>("--pred")
        { Description = "PRED.safetensors written by 'brainmclip predict' (test order).", Required = true };
        var feats = new Option<string>("--features")
        {
            Description = "Features of the TEST stimuli ('detail', 'semantic'), same order as the predictions.",
            Required = true
        };
        var loops = new Option<int>("--loops")
        {
            Description = "Number of random loops (one loop with all samples when there are fewer than --batch).",
            DefaultValueFactory = _ => 30
        };
        var batch = new Option<int>("--batch")
        { Description = "Samples per loop (MindEye: 300).", DefaultValueFactory = _ => 300 };
        var seed = new Option<long>("--seed")
        { Description = "Seed of the loop sampling.", DefaultValueFactory = _ => 42 };
        foreach (var o in new Option[] { pred, feats, loops, batch, seed }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var result = RetrievalReport.Compute(parse.GetValue(pred)!, parse.GetValue(feats)!, parse.GetValue(loops),
                parse.GetValue(batch), parse.GetValue(seed));
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
