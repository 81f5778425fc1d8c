using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evidence;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip evidence analyse`: hierarchical and image-only bootstrap CIs of every comparison.</summary>
public sealed class EvidenceAnalyseCommand : ICliCommand
{
    static readonly EvidenceAnalysis.Options D = Defaults.Of<EvidenceAnalysis.Options>();

    public string[] Path => ["evidence", "analyse"];
    public string Description =>
        "Every model − baseline difference of ROOT/results.json at every n_train and metric (network vs ridge, " +
        "ridge_retrieval_alpha and linear; NET_no_split vs NET; ridge_no_split vs ridge; linear vs ridge; other " +
        "NET_X ablations vs NET), paired by subject and training seed, with a 95% hierarchical bootstrap CI " +
        "(subjects, seeds within subject, test images within subject) beside the image-only one. Writes " +
        "ROOT/analysis.json.";

    public void Configure(Command command)
    {
        var root = new Option<string>("--root")
        { Description = "The evidence folder.", DefaultValueFactory = _ => "docs/evidence/replication" };
        var network = new Option<string>("--network")
        { Description = "The network's model name.", DefaultValueFactory = _ => D.Network };
        var resamples = new Option<int>("--resamples")
        { Description = "Bootstrap replicates.", DefaultValueFactory = _ => D.Resamples };
        var seed = new Option<int>("--seed") { Description = "Bootstrap seed.", DefaultValueFactory = _ => D.Seed };
        foreach (var o in new Option[] { root, network, resamples, seed }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var result = EvidenceAnalysis.Analyse(parse.GetValue(root)!,
                new EvidenceAnalysis.Options
                {
                    Network = parse.GetValue(network)!,
                    Resamples = parse.GetValue(resamples),
                    Seed = parse.GetValue(seed),
                }, Console.Error);
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                analysis = System.IO.Path.Combine(parse.GetValue(root)!, "analysis.json"),
                comparisons = result["comparisons"]!.AsArray().Count,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
