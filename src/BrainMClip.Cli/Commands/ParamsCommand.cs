using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.Model;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip params`: per-module parameter counts of a configuration beside published reference
/// counts.</summary>
public sealed class ParamsCommand : StageCommand<ParamsCommand.Request, ParameterCounts.Summary>
{
    public sealed record Request(string Config, int VoxelsDetail, int VoxelsSemantic, bool Json);

    public override string[] Path => ["params"];
    public override string Description =>
        "Count the BrainMCLIP parameters per module for a configuration and voxel counts, beside reference counts of " +
        "MindEye1, MindEye2 and MindBridge computed with the same counter from the layer shapes of their public code " +
        "(brain → CLIP pathway only; each reference states what it includes and excludes).";

    readonly Option<string> config = new Option<string>("--config")
    { Description = "Preset (tiny, tiny-recon, paper) or a config .json file.", Required = true };
    readonly Option<int> vD = new Option<int>("--voxels-detail")
    {
        Description = "Voxels of the detail stream (all nsdgeneral; 15724 for NSD subject 1).",
        DefaultValueFactory = _ => 15724
    };
    readonly Option<int> vS = new Option<int>("--voxels-semantic")
    {
        Description = "Voxels of the semantic stream (floc-labelled nsdgeneral voxels).",
        DefaultValueFactory = _ => 4500
    };
    readonly Option<bool> json = new Option<bool>("--json")
    { Description = "Print JSON (fields total, modules, references) instead of a table." };

    protected override Option[] Options => [config, vD, vS, json];

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(config)!, parse.GetValue(vD), parse.GetValue(vS), parse.GetValue(json));

    public override ParameterCounts.Summary Execute(Request r) =>
        ParameterCounts.Summarize(r.Config, r.VoxelsDetail, r.VoxelsSemantic);

    protected override void Print(Request request, ParameterCounts.Summary summary)
    {
        if (request.Json) base.Print(request, summary);
        else PrintTable(summary);
    }

    static void PrintTable(ParameterCounts.Summary summary)
    {
        var (cfg, d, s, modules, total, refs, sizes, published) = summary;
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine(
            $"BrainMCLIP '{cfg.Name}' (H {cfg.Model.Hidden}, R {cfg.Model.Blocks}, r {cfg.Model.Rank}, head " +
            $"{cfg.EffectiveHead}, T {cfg.Model.Tokens}, C_D {cfg.Model.DetailWidth}, C_S " +
            $"{cfg.Model.SemanticWidth}; voxels {d}/{s})");
        Console.WriteLine($"{"module",-28}{"parameters",16}");
        foreach (var m in modules)
        {
            Console.WriteLine($"{m.Name,-28}{m.Parameters.ToString("N0", ci),16}");
            foreach (var (k, v) in m.Parts) Console.WriteLine($"  {k,-26}{v.ToString("N0", ci),16}");
        }
        Console.WriteLine($"{"total",-28}{total.ToString("N0", ci),16}");
        Console.WriteLine();
        Console.WriteLine($"References at the same sizes ({sizes.Label}; same counter, hidden layers as in each " +
            "model's public code):");
        foreach (var r in refs)
        {
            double f = (double)total / r.Total;
            Console.WriteLine($"{r.Name,-42}{r.Total.ToString("N0", ci),16}   ours = {f:P1} ({1 - f:P1} fewer)");
            Console.WriteLine($"  includes: {r.Includes}");
            Console.WriteLine($"  excludes: {r.Excludes}");
            Console.WriteLine($"  source:   {r.Source}");
        }
        Console.WriteLine();
        Console.WriteLine("As published (NSD subject 1, each with its own CLIP targets; compare them with " +
            "`params --config paper`, not with a smaller configuration):");
        foreach (var r in published) Console.WriteLine($"{r.Name,-42}{r.Total.ToString("N0", ci),16}   {r.Source}");
        Console.WriteLine(
            "The BrainMCLIP paper reports 71.7% fewer parameters than \"the top VAE-based method\" without a count " +
            "we can reproduce; these references are ours.");
    }

    public override object Report(Request request, ParameterCounts.Summary summary)
    {
        var (cfg, d, s, modules, total, refs, sizes, published) = summary;
        var mods = new JsonObject();
        foreach (var m in modules)
        {
            var parts = new JsonObject();
            foreach (var (k, v) in m.Parts) parts[k] = v;
            mods[m.Name] = new JsonObject { ["total"] = m.Parameters, ["parts"] = parts };
        }
        var references = References(refs, total);
        var asPublished = new JsonObject();
        foreach (var r in published) asPublished[r.Key] = new JsonObject { ["name"] = r.Name, ["total"] = r.Total };
        // "Fewer parameters" only against the references at this configuration's own sizes.
        double vsMe1 = (double)total / refs.Single(r => r.Key == "mindeye1").Total,
            vsMb = (double)total / refs.Single(r => r.Key == "mindbridge").Total;
        var root = new JsonObject
        {
            ["config"] = cfg.Name,
            ["voxels_detail"] = d,
            ["voxels_semantic"] = s,
            ["total"] = total,
            ["modules"] = mods,
            ["reference_sizes"] = new JsonObject
            {
                ["voxels"] = sizes.Voxels,
                ["tokens"] = sizes.Tokens,
                ["width"] = sizes.Width,
                ["label"] = sizes.Label,
            },
            ["references"] = references,
            ["references_as_published"] = asPublished,
            ["fraction_of_mindeye1"] = vsMe1,
            ["reduction_vs_mindeye1"] = 1 - vsMe1,
            ["fraction_of_mindbridge"] = vsMb,
            ["paper_claim"] =
                "71.7% fewer parameters than the top VAE-based method (model and count not published with it)",
        };
        return root;
    }

    static JsonObject References(IReadOnlyList<ReferenceModel> refs, long total)
    {
        var references = new JsonObject();
        foreach (var r in refs)
        {
            var rm = new JsonObject();
            foreach (var (k, v) in r.Modules) rm[k] = v;
            references[r.Key] = new JsonObject
            {
                ["name"] = r.Name,
                ["total"] = r.Total,
                ["includes"] = r.Includes,
                ["excludes"] = r.Excludes,
                ["source"] = r.Source,
                ["modules"] = rm,
                ["fraction_ours"] = (double)total / r.Total,
            };
        }
        return references;
    }
}
