using System.CommandLine;
using System.Text.Json.Nodes;
using BrainMClip.Evaluation;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip retrieve`: top-1 retrieval (docs/evaluation.md) of predicted tokens against the test
/// features.</summary>
public sealed class RetrieveCommand : StageCommand<RetrieveCommand.Request, JsonObject>
{
    public sealed record Request(string Pred, string Features, int Loops, int Batch, long Seed);

    static readonly RetrievalSettings D = new();

    public override string[] Path => ["retrieve"];
    public override string Description =>
        "Top-1 retrieval (docs/evaluation.md): loops of --batch test samples drawn without replacement; flattened, " +
        "L2-normalised tokens; image→brain and brain→image; mean over loops. Prints JSON per stream (semantic, " +
        "detail).";

    readonly Option<string> pred = new Option<string>("--pred")
    { Description = "PRED.safetensors written by 'brainmclip predict' (test order).", Required = true };
    readonly Option<string> feats = new Option<string>("--features")
    {
        Description = "Features of the TEST stimuli ('detail', 'semantic'), same order as the predictions.",
        Required = true
    };
    readonly Option<int> loops = new Option<int>("--loops")
    {
        Description = "Number of random loops (one loop with all samples when there are fewer than --batch).",
        DefaultValueFactory = _ => D.Loops
    };
    readonly Option<int> batch = new Option<int>("--batch")
    { Description = "Samples per loop (MindEye: 300).", DefaultValueFactory = _ => D.Batch };
    readonly Option<long> seed = new Option<long>("--seed")
    { Description = "Seed of the loop sampling.", DefaultValueFactory = _ => D.Seed };

    protected override Option[] Options => [pred, feats, loops, batch, seed];

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(pred)!, parse.GetValue(feats)!, parse.GetValue(loops), parse.GetValue(batch),
            parse.GetValue(seed));

    public override JsonObject Execute(Request r) =>
        RetrievalReport.Compute(r.Pred, r.Features, r.Loops, r.Batch, r.Seed);

    public override object Report(Request request, JsonObject result) => result;
}
