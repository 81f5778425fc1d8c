using System.Diagnostics;
using System.Text.RegularExpressions;
using BrainMClip.Evaluation;
using BrainMClip.Report;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace BrainMClip.Tests.Report;

public class ReportTests(ITestOutputHelper output)
{
    static string MetricsDir => TestPaths.Fixture("eval/metrics");

    /// <summary>Writes a small set of every report input into <paramref name="dir"/>.</summary>
    static ReportInputs Inputs(string dir)
    {
        var m = new MetricsReport { N = 4, Indices = [0, 1, 2, 3] };
        m.Metrics["pixcorr"] = new MetricResult(0.31, [0.2, 0.3, 0.4, 0.34]);
        m.Metrics["ssim"] = new MetricResult(0.42, [0.4, 0.41, 0.43, 0.44]);
        m.Metrics["alexnet2"] = new MetricResult(0.75, [1, 2 / 3.0, 2 / 3.0, 2 / 3.0]);
        m.Skipped["swav"] = "swav_resnet50.safetensors not found";
        m.Save(Path.Combine(dir, "METRICS.json"));
        File.WriteAllText(Path.Combine(dir, "retrieval.json"), """{"semantic": {"image_to_brain_top1": 0.5, "brain_to_image_top1": 0.45, "loops": 30, "batch": 300}}""");
        File.WriteAllText(Path.Combine(dir, "params.json"), """{"config": "tiny", "voxels_detail": 1508, "voxels_semantic": 554, "total": 8888888, "modules": {"encoder_detail": {"total": 1234567, "parts": {"input": 1000}}, "encoder_semantic": {"total": 7654321, "parts": {}}}, "fraction_of_mindeye1": 0.0094, "reduction_vs_mindeye1": 0.9906}""");
        File.WriteAllText(Path.Combine(dir, "ablations.json"), """{"test_samples": 20, "variants": [{"variant": "full", "train_seconds": 3.5, "semantic": {"image_to_brain_top1": 0.61, "brain_to_image_top1": 0.6}, "detail": null}, {"variant": "no-cross", "train_seconds": 3.1, "semantic": {"image_to_brain_top1": 0.58, "brain_to_image_top1": 0.55}, "detail": null}]}""");
        string run = Path.Combine(dir, "run");
        Directory.CreateDirectory(run);
        File.WriteAllLines(Path.Combine(run, "metrics.jsonl"), Enumerable.Range(1, 5).Select(e => $$"""{"epoch": {{e}}, "step": {{10 * e}}, "lr": 0.0003, "loss.total": {{3.0 / e}}, "loss.mse": {{0.001 / e}}, "val_cosine_semantic": {{0.1 * e}}, "val_cosine_detail": null, "samples_per_second": 512.5, "seconds": 1.2}"""));
        var layers = new LayerAnalysisResult(["layer 1", "layer 2", "layer 3"], ["low", "faces"],
            new double[,] { { 0.1, 0.2 }, { 0.3, 0.1 }, { 0.2, 0.4 } },
            new double[,] { { 1, 0.8, 0.5 }, { 0.8, 1, 0.7 }, { 0.5, 0.7, 1 } });
        LayerAnalysisWriter.Write(layers, Path.Combine(dir, "layers"));
        return new ReportInputs
        {
            RunDir = run,
            MetricsJson = Path.Combine(dir, "METRICS.json"),
            RetrievalJson = Path.Combine(dir, "retrieval.json"),
            ReconDir = Path.Combine(MetricsDir, "recons"),
            TruthSource = Path.Combine(MetricsDir, "truth"),
            LayersDir = Path.Combine(dir, "layers"),
            ParamsJson = Path.Combine(dir, "params.json"),
            AblationsJson = Path.Combine(dir, "ablations.json"),
        };
    }

    [Fact]
    public void ReportHasEverySectionAndNotesMissingInputs()
    {
        using var tmp = new TempDir();
        string html = ReportBuilder.Build(Inputs(tmp.Path));
        foreach (var id in ReportBuilder.SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.DoesNotContain("Not available", html);
        Assert.DoesNotContain("src=\"http", html);
        Assert.Contains("97.4%", html); // MindEye1 Alex(2) beside ours
        Assert.Contains("97.20%", html); // MindEye1 image→brain retrieval beside ours
        Assert.Contains("50.00%", html);
        Assert.Contains("semantic.image_to_brain_top1", html); // ablation columns from nested objects
        Assert.Contains("no-cross", html);
        Assert.Contains("1,234,567", html);
        Assert.Contains("99.1% fewer parameters", html);
        Assert.True(Regex.Matches(html, "data:image/png;base64,").Count >= 8 + 4);

        string empty = ReportBuilder.Build(new ReportInputs());
        foreach (var id in ReportBuilder.SectionIds) Assert.Contains($"<section id=\"{id}\">", empty);
        Assert.Equal(ReportBuilder.SectionIds.Length, Regex.Matches(empty, "class=\"missing\"").Count);
    }

    [Fact]
    public async Task ReportRendersInHeadlessChromium()
    {
        string? chromium = new[]
            { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
        Assert.True(chromium != null,
            "headless Chromium is required for this test (apt-get install chromium; scripts/setup.sh installs it)");
        using var tmp = new TempDir();
        var inputs = Inputs(tmp.Path);
        string path = Path.Combine(tmp.Path, "report.html");
        int rc = BrainMClip.Cli.Program.Main(
            ["report", "--out", path, "--run", inputs.RunDir!, "--metrics", inputs.MetricsJson!,
            "--retrieval", inputs.RetrievalJson!, "--recons", inputs.ReconDir!, "--truth", inputs.TruthSource!,
            "--layers", inputs.LayersDir!, "--params", inputs.ParamsJson!, "--ablations", inputs.AblationsJson!]);
        Assert.Equal(0, rc);
        var psi = new ProcessStartInfo(chromium!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
            { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            $"--user-data-dir={Path.Combine(tmp.Path, "chrome")}",
                     "--virtual-time-budget=10000", "--dump-dom", new Uri(path).AbsoluteUri })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        string dom = await stdout, err = await stderr;
        output.WriteLine(
            $"chromium exit {p.ExitCode}, DOM {dom.Length} chars; stderr tail: {err[^Math.Min(300, err.Length)..]}");
        foreach (var id in ReportBuilder.SectionIds) Assert.Contains($"id=\"{id}\"", dom);
        var total = Regex.Match(dom, "data-images-total=\"(\\d+)\"");
        var decoded = Regex.Match(dom, "data-images-decoded=\"(\\d+)\"");
        Assert.True(total.Success && decoded.Success, "the load handler did not run in Chromium");
        Assert.True(int.Parse(total.Groups[1].Value) >= 12);
        Assert.Equal(total.Groups[1].Value, decoded.Groups[1].Value);
    }
}
