using System.CommandLine;
using System.Text.Json;
using BrainMClip.Evaluation.Networks;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip nets-init</c>: random-weight metric networks, so `evaluate` runs every metric.</summary>
public sealed class NetsInitCommand : ICliCommand
{
    public string[] Path => ["nets-init"];
    public string Description =>
        "Write seeded RANDOM-weight metric networks in the torchvision-named layout 'evaluate --nets' reads " +
        "(alexnet, inception_v3, efficientnet_b1, swav_resnet50 safetensors, clip/) plus nets-init.json. 'evaluate' " +
        "labels their scores as random in METRICS.json and the report: they exercise every metric, they do not " +
        "measure perceptual similarity. Real weights: docs/metrics-weights.md.";

    public void Configure(Command command)
    {
        var output = new Option<string>("--out")
        {
            Description = "NETS folder to write (files of the same name are replaced).",
            Required = true,
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Random seed; the same seed gives byte-identical files.",
            DefaultValueFactory = _ => 0,
        };
        var clip = new Option<string?>("--clip")
        {
            Description = "Hugging Face CLIP folder to copy to NETS/clip/ for the CLIP metric " +
                          "(default: a random tiny CLIP, as clip-init writes).",
        };
        var networks = new Option<string?>("--networks")
        {
            Description = "Comma list of the torchvision networks to write (alexnet, inception_v3, efficientnet_b1, " +
                          "resnet50); default all four.",
        };
        foreach (var o in new Option[] { output, seed, clip, networks }) command.Options.Add(o);
        command.SetAction(p =>
        {
            string dir = p.GetValue(output)!;
            if (File.Exists(dir))
                throw new UserInputException($"{dir}: --out must be a folder, but a file has that name");
            var only = p.GetValue(networks)?
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var r = RandomMetricNetworks.Write(dir, p.GetValue(seed), p.GetValue(clip), only);
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                nets = System.IO.Path.GetFullPath(dir),
                weights = RandomMetricNetworks.RandomLabel,
                files = r.Files.Keys,
                clip = r.ClipOrigin,
                manifest = System.IO.Path.GetFullPath(r.Manifest),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
