using System.Text.Json.Nodes;
using BrainMClip.Evidence;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Evidence;

/// <summary>
/// `evidence check` on the repository (every generated block matches its JSON) and on a copy with one number of
/// docs/evidence.md's short answer edited (exit 1 naming it); `evidence report` puts it back; the formats.
/// </summary>
[Collection("Console")]
public class EvidenceCheckTests
{
    static string CopyDocs(string to)
    {
        string root = TestPaths.RepoRoot;
        File.Copy(Path.Combine(root, "README.md"), Path.Combine(to, "README.md"));
        foreach (var f in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".md", StringComparison.Ordinal) ||
                                 f.EndsWith(".json", StringComparison.Ordinal)))
        {
            string dst = Path.Combine(to, Path.GetRelativePath(root, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
        return Path.Combine(to, "docs", "evidence.md");
    }

    [Fact]
    public void TheRepositoryPasses()
    {
        var (drift, blocks) = EvidenceReport.Check(TestPaths.RepoRoot);
        Assert.True(drift is null, drift?.ToString());
        Assert.True(blocks >= 4, $"{blocks} generated blocks");
        var (code, output, err) = CliRunner.Run("evidence", "check", "--root", TestPaths.RepoRoot);
        Assert.True(code == 0, err);
        Assert.True(JsonNode.Parse(output)!["ok"]!.GetValue<bool>());
    }

    [Fact]
    public void AnEditedNumberInTheShortAnswerFailsNamingItAndReportRestoresIt()
    {
        using var dir = new TempDir();
        string evidence = CopyDocs(dir.Path);
        string original = File.ReadAllText(evidence);
        int start = original.IndexOf("<!-- evidence:short-answer -->", StringComparison.Ordinal);
        int at = original.IndexOf("**+0.032 [", start, StringComparison.Ordinal);
        Assert.True(start >= 0 && at > start, "the short answer quotes hier71's +0.032");
        File.WriteAllText(evidence, original[..at] + "**+0.033 [" + original[(at + 10)..]);

        var (code, output, err) = CliRunner.Run("evidence", "check", "--root", dir.Path);
        Assert.Equal(1, code);
        var r = JsonNode.Parse(output)!;
        Assert.Equal("docs/evidence.md", r["file"]!.GetValue<string>());
        Assert.Equal("short-answer", r["block"]!.GetValue<string>());
        Assert.Equal("**+0.033", r["found"]!.GetValue<string>());
        Assert.Equal("**+0.032", r["expected"]!.GetValue<string>());
        Assert.Contains("hier71_nsd_encv3_fullhead", File.ReadAllText(Path.Combine(dir.Path,
            "docs/evidence/blocks/short-answer.md")));
        Assert.Contains("H71F:learning_curve[0]/network_minus_ridge/semantic.brain_to_image/mean",
            r["source"]!.GetValue<string>());
        Assert.Equal(original[..at].Count(c => c == '\n') + 1, r["line"]!.GetValue<int>());
        Assert.Contains("short-answer", err);

        Assert.Equal(0, CliRunner.Run("evidence", "report", "--root", dir.Path).Code);
        Assert.Equal(original, File.ReadAllText(evidence));
        Assert.Equal(0, CliRunner.Run("evidence", "check", "--root", dir.Path).Code);
    }

    [Fact]
    public void AJsonValueChangeIsADriftAndABlockWithoutTemplateIsAUserError()
    {
        using var dir = new TempDir();
        string evidence = CopyDocs(dir.Path);
        string json = Path.Combine(dir.Path, "docs/evidence/hier53_nsd_encv2/results.json");
        string before = File.ReadAllText(json);
        var o = JsonNode.Parse(before)!;
        o["learning_curve"]![0]!["network_minus_ridge"]!["semantic.brain_to_image"]!["mean"] = 0.0251;
        File.WriteAllText(json, o.ToJsonString());
        var (drift, _) = EvidenceReport.Check(dir.Path);
        Assert.NotNull(drift);
        Assert.Equal(("short-answer", "+0.013", "+0.025"), (drift!.Block, drift.Found, drift.Expected));

        File.WriteAllText(json, before);
        File.AppendAllText(evidence, "\n<!-- evidence:no-such-block -->\n<!-- /evidence:no-such-block -->\n");
        var e = Assert.Throws<UserInputException>(() => EvidenceReport.Check(dir.Path));
        Assert.Contains("docs/evidence/blocks/no-such-block.md", e.Message);
    }

    [Theory]
    [InlineData(-0.0004, "f3", "0.000")]
    [InlineData(-0.0004, "+f3", "−0.000")]
    [InlineData(0.0186, "+f3", "+0.019")]
    [InlineData(-0.0179, "f3", "−0.018")]
    [InlineData(8859.0, "n0", "8,859")]
    [InlineData(0.623, "pct1", "62.3")]
    [InlineData(0.062, "x100+f1", "+6.2")]
    [InlineData(472.6, "min-s", "7 min 53 s")]
    [InlineData(59.4, "min-s", "59 s")]
    public void FormatsWriteNumbersAsTheDocsDo(double x, string format, string expected) =>
        Assert.Equal(expected, EvidenceBlocks.Format(JsonValue.Create(x), format, "test"));

    [Fact]
    public void StringsAreWrittenAsTheyAreAndNumbersAreNotStrings()
    {
        Assert.Equal("Intel(R) Xeon(R)", EvidenceBlocks.Format(JsonValue.Create("Intel(R) Xeon(R)"), "s", "t"));
        Assert.Throws<UserInputException>(() => EvidenceBlocks.Format(JsonValue.Create(1.5), "s", "t"));
    }

    [Fact]
    public void AnIntervalIsSignedAndSelectorsPickOneElement()
    {
        var ci = new JsonObject { ["ci95_low"] = -0.0098, ["ci95_high"] = 0.0087 };
        Assert.Equal("[−0.010, +0.009]", EvidenceBlocks.Format(ci, "ci3", "t"));
        var doc = JsonNode.Parse("""{"a": [{"n": 1, "v": "x", "m": 0.5}, {"n": 2, "v": "x", "m": 0.25}]}""")!;
        Assert.Equal(0.25, EvidenceBlocks.Select(doc, "a[n=2,v=x]/m", "t").GetValue<double>());
        Assert.Throws<UserInputException>(() => EvidenceBlocks.Select(doc, "a[v=x]/m", "t"));   // two match
    }
}
