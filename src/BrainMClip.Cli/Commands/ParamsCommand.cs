using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Model;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip params`: per-module parameter counts of a configuration beside the docs/model.md
/// references.</summary>
public sealed class ParamsCommand : ICliCommand
{
    public string[] Path => ["params"];
    public string Description =>
        "Count the BrainMCLIP parameters per module for a configuration and voxel counts, beside the reference " +
            "counts " +
        "of MindBridge (561,283,712) and MindEye1 (947,579,904).";

    public void Configure(Command command)
    {
        var config = new Option<string>("--config")
        { Description = "Preset (tiny, paper) or a config .json file.", Required = true };
        var vD = new Option<int>("--voxels-detail")
        {
            Description = "Voxels of the detail stream (all nsdgeneral; 15724 for NSD subject 1).",
            DefaultValueFactory = _ => 15724
        };
        var vS = new Option<int>("--voxels-semantic")
        {
            Description = "Voxels of the semantic stream (floc-labelled nsdgeneral voxels).",
            DefaultValueFactory = _ => 4500
        };
        var json = new Option<bool>("--json")
        { Description = "Print JSON (fields total, modules, references) instead of a table." };
        foreach (var o in new Option[] { config, vD, vS, json }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var cfg = BrainMClipConfig.Resolve(parse.GetValue(config)!);
            if (cfg.IsRidge) throw new UserInputException(
                "--config ridge: the ridge baseline has no network; its size is voxels × tokens × width per stream");
            int d = parse.GetValue(vD), s = parse.GetValue(vS);
            if (d < 1
                || s < 1) throw new UserInputException(
                $"--voxels-detail {d} / --voxels-semantic {s}: expected positive counts");
            var modules = ParameterCounts.Compute(cfg, d, s);
            long total = modules.Sum(m => m.Parameters);
            double vsMe1 = (double)total / ParameterCounts.MindEye1, vsMb = (double)total / ParameterCounts.MindBridge;
            if (parse.GetValue(json))
            {
                var mods = new JsonObject();
                foreach (var m in modules)
                {
                    var parts = new JsonObject();
                    foreach (var (k, v) in m.Parts) parts[k] = v;
                    mods[m.Name] = new JsonObject { ["total"] = m.Parameters, ["parts"] = parts };
                }
                var root = new JsonObject
                {
                    ["config"] = cfg.Name,
                    ["voxels_detail"] = d,
                    ["voxels_semantic"] = s,
                    ["total"] = total,
                    ["modules"] = mods,
                    ["references"] = new JsonObject
                    { ["mindbridge"] = ParameterCounts.MindBridge, ["mindeye1"] = ParameterCounts.MindEye1 },
                    ["fraction_of_mindeye1"] = vsMe1,
                    ["reduction_vs_mindeye1"] = 1 - vsMe1,
                    ["fraction_of_mindbridge"] = vsMb,
                };
                Console.WriteLine(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
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
            Console.WriteLine(
                $"{"MindBridge (reference)",-28}{ParameterCounts.MindBridge.ToString("N0", ci),16}   ours = {vsMb:P1}");
            Console.WriteLine(
                $"{"MindEye1 (reference)",-28}{ParameterCounts.MindEye1.ToString("N0", ci),16}   ours = {vsMe1:P1} " +
                $"({1 - vsMe1:P1} fewer)");
            return 0;
        });
    }
}
