using System.CommandLine;
using BrainMClip.Evaluation.Networks;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip nets-init</c>: random-weight metric networks, so `evaluate` runs every metric.</summary>
public sealed class NetsInitCommand : StageCommand<NetsInitCommand.Request, RandomMetricNetworks.Result>
{
    public sealed record Request(string Out, int Seed, string? Clip, string[]? Networks);

    public override string[] Path => ["nets-init"];
    public override string Description =>
        "Write seeded RANDOM-weight metric networks in the torchvision-named layout 'evaluate --nets' reads " +
        "(alexnet, inception_v3, efficientnet_b1, swav_resnet50 safetensors, clip/) plus nets-init.json. 'evaluate' " +
        "labels their scores as random in METRICS.json and the report: they exercise every metric, they do not " +
        "measure perceptual similarity. Real weights: docs/metrics-weights.md.";

    readonly Option<string> output = new Option<string>("--out")
    {
        Description = "NETS folder to write (files of the same name are replaced).",
        Required = true,
    };
    readonly Option<int> seed = new Option<int>("--seed")
    {
        Description = "Random seed; the same seed gives byte-identical files.",
        DefaultValueFactory = _ => 0,
    };
    readonly Option<string?> clip = new Option<string?>("--clip")
    {
        Description = "Hugging Face CLIP folder to copy to NETS/clip/ for the CLIP metric " +
                      "(default: a random tiny CLIP, as clip-init writes).",
    };
    readonly Option<string?> networks = new Option<string?>("--networks")
    {
        Description = "Comma list of the torchvision networks to write (alexnet, inception_v3, efficientnet_b1, " +
                      "resnet50); default all four.",
    };

    protected override Option[] Options => [output, seed, clip, networks];

    public override Request Bind(ParseResult p, CancellationToken cancel)
    {
        string dir = p.GetValue(output)!;
        if (File.Exists(dir))
            throw new UserInputException($"{dir}: --out must be a folder, but a file has that name");
        return new Request(dir, p.GetValue(seed), p.GetValue(clip), p.GetValue(networks)?
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    public override RandomMetricNetworks.Result Execute(Request r) =>
        RandomMetricNetworks.Write(r.Out, r.Seed, r.Clip, r.Networks);

    public override object Report(Request request, RandomMetricNetworks.Result r) => new
    {
        nets = System.IO.Path.GetFullPath(request.Out),
        weights = RandomMetricNetworks.RandomLabel,
        files = r.Files.Keys,
        clip = r.ClipOrigin,
        manifest = System.IO.Path.GetFullPath(r.Manifest),
    };
}
