using System.Globalization;
using System.Text.RegularExpressions;
using BrainMClip.Model;
using Xunit;

namespace BrainMClip.Tests.Model;

/// <summary>
/// bench/pytorch/bench.py re-states the tiny and paper presets for the PyTorch side of the benchmark; a stale copy made
/// the two sides time different networks once (train_step_tiny 1.27 instead of 0.47). This keeps them equal.
/// </summary>
public class BenchPresetSyncTests
{
    [Theory]
    [InlineData("tiny")]
    [InlineData("paper")]
    public void PyTorchBenchPresetEqualsTheCSharpPreset(string name)
    {
        string py = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "bench", "pytorch", "bench.py"));
        var m = Regex.Match(py, $"\"{name}\": dict\\(([^)]*)\\)", RegexOptions.Singleline);
        Assert.True(m.Success, $"bench.py has no \"{name}\": dict(...) preset");
        var fields = Regex.Matches(m.Groups[1].Value, @"(\w+)=([^,\s]+)")
            .ToDictionary(x => x.Groups[1].Value, x => x.Groups[2].Value);
        var c = BrainMClipConfig.Preset(name);
        var expected = new Dictionary<string, string>
        {
            ["tokens"] = c.Model.Tokens.ToString(CultureInfo.InvariantCulture),
            ["detail_width"] = c.Model.DetailWidth.ToString(CultureInfo.InvariantCulture),
            ["semantic_width"] = c.Model.SemanticWidth.ToString(CultureInfo.InvariantCulture),
            ["hidden"] = c.Model.Hidden.ToString(CultureInfo.InvariantCulture),
            ["blocks"] = c.Model.Blocks.ToString(CultureInfo.InvariantCulture),
            ["rank"] = c.Model.Rank.ToString(CultureInfo.InvariantCulture),
            ["ridge_skip"] = c.Model.RidgeSkip ? "True" : "False",
            ["head"] = $"\"{c.EffectiveHead}\"",
        };
        foreach (var (k, v) in expected) Assert.True(fields.TryGetValue(k, out var got) && got == v,
            $"{name}.{k}: bench.py {fields.GetValueOrDefault(k)}, C# {v}");
        foreach (var (k, v) in new[]
            { ("max_lr", c.Training.MaxLr), ("dropout_input", c.Model.DropoutInput),
            ("dropout_blocks", c.Model.DropoutBlocks) })
            Assert.Equal(v, double.Parse(fields[k], CultureInfo.InvariantCulture), 12);
    }
}
