using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evidence;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip evidence collect`: one subject's study folder into the evidence table.</summary>
public sealed class EvidenceCollectCommand : ICliCommand
{
    public string[] Path => ["evidence", "collect"];
    public string Description =>
        "Merge a finished or partly finished `study` folder (STUDY/runs/n*/seed*/*/result.json) into " +
        "OUT/results.json " +
        "(one object per run: subject, train_seed, model, n_train, top-1 per stream and direction, train_seconds; " +
        "re-collecting a subject replaces its runs) and OUT/per_image/subject{S}.json (appearances and per-run hit " +
        "counts, checked to give each run's top-1).";

    public void Configure(Command command)
    {
        var study = new Option<string>("--study") { Description = "The study folder.", Required = true };
        var subject = new Option<int>("--subject")
        { Description = "The subject's world seed (synth --seed) the study was run on.", Required = true };
        var output = new Option<string>("--out")
        {
            Description = "The evidence folder (e.g. docs/evidence/replication).",
            DefaultValueFactory = _ => "docs/evidence/replication",
        };
        var seed = new Option<long?>("--retrieval-seed")
        { Description = "Retrieval seed the study scored with (default: its results.json, else 42 as study uses)." };
        foreach (var o in new Option[] { study, subject, output, seed }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var r = EvidenceCollector.Collect(parse.GetValue(study)!, parse.GetValue(subject),
                parse.GetValue(output)!, parse.GetValue(seed), Console.Error);
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                subject = r.Subject,
                runs = r.Runs,
                total_runs = r.TotalRuns,
                models = r.Models,
                per_image_bytes = r.PerImageBytes,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
