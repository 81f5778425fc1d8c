using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BrainMClip.Cli.Demo;

/// <summary>Sizes of the embedded demo; the defaults finish in minutes on 2 cores.</summary>
public sealed record DemoOptions
{
    public required string OutDir { get; init; }
    public int Train { get; init; } = 600;
    public int Test { get; init; } = 100;
    public int ImageSize { get; init; } = 64;
    public int Seed { get; init; } = 0;
    public int Epochs { get; init; } = 30;
    public int GeneratorSteps { get; init; } = 1500;
    public int DiffusionSteps { get; init; } = 20;
}

/// <summary>
/// The embedded end-to-end run. Every stage is the very CLI command a user would type (run in-process and echoed),
/// so the demo doubles as a worked example of the command line; JSON a stage prints is kept in the output folder.
/// </summary>
public sealed class DemoPipeline(DemoOptions o)
{
    readonly List<(string Stage, double Seconds)> _timings = [];
    readonly TextWriter _log = Console.Error;

    static readonly string[] OwnedFolders = ["data", "clip", "features", "run", "ridge", "generator", "recon", "eval", "layers", "ablations"];

    string P(params string[] parts) => Path.Combine([o.OutDir, .. parts]);

    public int Run()
    {
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(o.OutDir);
        // --force: start clean in the folders the demo owns (never anything else in --out).
        foreach (var d in OwnedFolders)
            if (Directory.Exists(P(d))) Directory.Delete(P(d), recursive: true);
        _log.WriteLine($"BrainMClip demo → {Path.GetFullPath(o.OutDir)}");

        Stage("1. Synthetic NSD-like subject (real on-disk formats: npy + NIfTI ROI masks)", null,
            "synth", "--out", P("data"), "--train", $"{o.Train}", "--test", $"{o.Test}", "--image-size", $"{o.ImageSize}",
            "--seed", $"{o.Seed}");
        var info = Stage("2. Check the data: counts per split, voxel streams, ROIs", P("data-info.json"),
            "data", "info", "--data", P("data"));
        string stim(string split) => P("data", "processed_data", "subj01", $"nsd_{split}_stim_sub1.npy");

        Stage("3. A CLIP vision model in Hugging Face layout (random weights: nothing to download)", null,
            "clip-init", "--out", P("clip"), "--preset", "tiny", "--seed", $"{o.Seed}");
        Stage("4a. CLIP features of the training images (CLIP-Detail = mean of middle layers, CLIP-Semantic = VD tokens)", null,
            "features", "--clip", P("clip"), "--input", stim("train"), "--out", P("features", "train.safetensors"), "--batch", "32");
        Stage("4b. CLIP features of the test images, with every hidden layer for the layer analysis", null,
            "features", "--clip", P("clip"), "--input", stim("test"), "--out", P("features", "test.safetensors"), "--batch", "32",
            "--hidden-states");

        var summary = new JsonObject
        {
            ["out"] = Path.GetFullPath(o.OutDir),
            ["data"] = info,
            ["timings_s"] = new JsonObject(_timings.Select(t => KeyValuePair.Create(t.Stage, (JsonNode?)Math.Round(t.Seconds, 1)))),
            ["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 1),
        };
        IO.AtomicFile.WriteAllText(P("demo-summary.json"), summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        _log.WriteLine();
        _log.WriteLine($"Done in {total.Elapsed.TotalSeconds:0}s. Summary: {P("demo-summary.json")}");
        Console.WriteLine(summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Runs one CLI command in-process; its stdout (JSON) is captured to <paramref name="jsonOut"/> when given.</summary>
    JsonNode? Stage(string title, string? jsonOut, params string[] args)
    {
        _log.WriteLine();
        _log.WriteLine($"== {title}");
        _log.WriteLine($"   $ brainmclip {string.Join(' ', args.Select(Quote))}");
        var clock = Stopwatch.StartNew();
        var oldOut = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        int code;
        try { code = Program.Main(args); }
        finally { Console.SetOut(oldOut); }
        _timings.Add((title, clock.Elapsed.TotalSeconds));
        string text = captured.ToString();
        if (code != 0)
        {
            _log.Write(text);
            throw new DemoStageException(title, code);
        }
        JsonNode? json = null;
        if (jsonOut != null)
        {
            IO.AtomicFile.WriteAllText(jsonOut, text);
            try { json = JsonNode.Parse(text); } catch (JsonException) { json = null; }
            _log.WriteLine($"   → {jsonOut}");
        }
        _log.WriteLine($"   ({clock.Elapsed.TotalSeconds:0.0}s)");
        return json;
    }

    static string Quote(string s) => s.Contains(' ') ? $"'{s}'" : s;
}

public sealed class DemoStageException(string stage, int code)
    : Exception($"demo stage '{stage}' failed with exit code {code}")
{
    public int Code { get; } = code;
}
