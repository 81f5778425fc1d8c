using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip retrieve`: SPEC §5 top-1 retrieval of predicted tokens against the test features.</summary>
public sealed class RetrieveCommand : ICliCommand
{
    public string[] Path => ["retrieve"];
    public string Description =>
        "Top-1 retrieval (SPEC §5): loops of --batch test samples drawn without replacement; flattened, L2-normalised " +
        "tokens; image→brain and brain→image; mean over loops. Prints JSON per stream (semantic, detail).";

    public void Configure(Command command)
    {
        var pred = new Option<string>("--pred") { Description = "PRED.safetensors written by 'brainmclip predict' (test order).", Required = true };
        var feats = new Option<string>("--features") { Description = "Features of the TEST stimuli ('detail', 'semantic'), same order as the predictions.", Required = true };
        var loops = new Option<int>("--loops") { Description = "Number of random loops (one loop with all samples when there are fewer than --batch).", DefaultValueFactory = _ => 30 };
        var batch = new Option<int>("--batch") { Description = "Samples per loop (MindEye: 300).", DefaultValueFactory = _ => 300 };
        var seed = new Option<long>("--seed") { Description = "Seed of the loop sampling.", DefaultValueFactory = _ => 42 };
        foreach (var o in new Option[] { pred, feats, loops, batch, seed }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var result = RetrievalReport.Compute(parse.GetValue(pred)!, parse.GetValue(feats)!, parse.GetValue(loops), parse.GetValue(batch), parse.GetValue(seed));
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}

/// <summary>Retrieval of every stream present in a predictions file, as the JSON the CLI prints.</summary>
public static class RetrievalReport
{
    public static JsonObject Compute(string predPath, string featuresPath, int loops, int batch, long seed)
    {
        var predHeader = SafeTensors.ReadHeader(predPath);
        var featHeader = SafeTensors.ReadHeader(featuresPath);
        var root = new JsonObject();
        foreach (var stream in new[] { "semantic", "detail" })
        {
            if (!predHeader.Entries.ContainsKey(stream)) continue;   // ablated stream
            if (!featHeader.Entries.ContainsKey(stream))
                throw new UserInputException($"{featuresPath}: no '{stream}' tensor to compare the predictions with");
            using var p = SafeTensors.LoadTensor(predPath, stream);
            using var y = SafeTensors.LoadTensor(featuresPath, stream);
            if (p.shape[0] != y.shape[0])
                throw new UserInputException($"{predPath} has {p.shape[0]} '{stream}' rows but {featuresPath} has {y.shape[0]}: features must be of the same split, in the same order");
            var r = Retrieval.Compute(p, y, loops, batch, seed);
            root[stream] = new JsonObject
            {
                ["image_to_brain_top1"] = r.ImageToBrainTop1,
                ["brain_to_image_top1"] = r.BrainToImageTop1,
                ["loops"] = r.Loops,
                ["batch"] = r.Batch,
            };
        }
        if (root.Count == 0) throw new UserInputException($"{predPath}: holds neither 'semantic' nor 'detail' predictions");
        return root;
    }
}
