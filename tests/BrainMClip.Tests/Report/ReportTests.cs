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
        File.WriteAllText(Path.Combine(dir, "params.json"), """{"config": "tiny", "voxels_detail": 1508, "voxels_semantic": 554, "total": 8888888, "modules": {"encoder_detail": {"total": 1234567, "parts": {"input": 1000}}, "encoder_semantic": {"total": 7654321, "parts": {}}}, "fraction_of_mindeye1": 0.0937, "reduction_vs_mindeye1": 0.9063, "reference_sizes": {"voxels": 1508, "tokens": 65, "width": 64, "label": "matched: 1,508 voxels, 65x64 targets"}, "references": {"mindeye1": {"name": "MindEye1 (voxel2clip)", "total": 94859520, "fraction_ours": 0.0937}}}""");
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

    /// <summary>A params.json from before issue 29 (its MindEye1 fraction was at NSD subject 1's sizes whatever the
    /// configuration): no "fewer parameters" sentence at all.</summary>
    [Fact]
    public void OldParamsJsonGetsNoCrossSizeComparison()
    {
        using var tmp = new TempDir();
        string p = Path.Combine(tmp.Path, "params.json");
        File.WriteAllText(p, """{"config": "tiny", "voxels_detail": 1508, "voxels_semantic": 554, "total": 4540174, "modules": {"encoder_detail": {"total": 1, "parts": {}}}, "fraction_of_mindeye1": 0.0048, "reduction_vs_mindeye1": 0.9952}""");
        string html = ReportBuilder.Build(new ReportInputs { ParamsJson = p });
        Assert.Contains("predates them", html);
        Assert.DoesNotContain("% fewer", html);
    }

    [Fact]
    public void ReportHasEverySectionAndNotesMissingInputs()
    {
        using var tmp = new TempDir();
        string html = ReportBuilder.Build(Inputs(tmp.Path) with { DataRoot = NsdRoot(tmp.Path, synthetic: false) });
        foreach (var id in ReportBuilder.SectionIds) Assert.Contains($"<section id=\"{id}\">", html);
        Assert.DoesNotContain("Not available", html);
        Assert.DoesNotContain("src=\"http", html);
        Assert.Contains("97.4%", html); // MindEye1 Alex(2) beside ours (real NSD data)
        Assert.Contains("97.20%", html); // MindEye1 image→brain retrieval beside ours
        Assert.Contains("300-way", html); // with their protocol
        Assert.DoesNotContain("protocol differs", html); // this fixture's retrieval is 300-way, 30 loops
        Assert.Contains("50.00%", html);
        Assert.Contains("semantic.image_to_brain_top1", html); // ablation columns from nested objects
        Assert.Contains("no-cross", html);
        Assert.Contains("1,234,567", html);
        // Fewer parameters only at the same sizes (issue 29); the published NSD-sized counts only as context.
        Assert.Contains("At the same sizes (matched: 1,508 voxels, 65x64 targets)", html);
        Assert.Contains("MindEye1 (voxel2clip) 94,859,520 (90.6% fewer)", html);
        Assert.DoesNotContain("99.1% fewer", html);
        Assert.True(Regex.Matches(html, "data:image/png;base64,").Count >= 8 + 4);

        string empty = ReportBuilder.Build(new ReportInputs());
        foreach (var id in ReportBuilder.SectionIds) Assert.Contains($"<section id=\"{id}\">", empty);
        Assert.Equal(ReportBuilder.SectionIds.Length, Regex.Matches(empty, "class=\"missing\"").Count);
    }

    /// <summary>A data root in the NSD layout; synth's also holds ground_truth/.</summary>
    static string NsdRoot(string dir, bool synthetic)
    {
        string root = Path.Combine(dir, synthetic ? "synth-data" : "nsd-data");
        Directory.CreateDirectory(Path.Combine(root, "processed_data", "subj01"));
        if (synthetic) Directory.CreateDirectory(Path.Combine(root, "ground_truth"));
        return root;
    }

    [Fact]
    public void PublishedNsdFiguresOnlyBesideRealNsdData()
    {
        using var tmp = new TempDir();
        var inputs = Inputs(tmp.Path);
        string synth = ReportBuilder.Build(inputs with { DataRoot = NsdRoot(tmp.Path, synthetic: true) });
        string unknown = ReportBuilder.Build(inputs);
        foreach (var html in new[] { synth, unknown })
        {
            Assert.DoesNotContain("MindEye1", Section(html, "metrics"));
            Assert.DoesNotContain("MindEye", Section(html, "retrieval"));
            Assert.DoesNotContain("97.4%", html);
            Assert.DoesNotContain("97.20%", html);
        }
        Assert.Contains("synthetic subject 1", synth);
        Assert.Contains("Data source unknown", unknown);
        // The truth's path decides when no --data is given: a stimulus file inside a synth root is synthetic.
        string root = NsdRoot(tmp.Path, synthetic: true);
        string stim = Path.Combine(root, "processed_data", "subj01", "nsd_test_stim_sub1.npy");
        File.WriteAllText(stim, "");
        Assert.Equal(DataKind.Synthetic, DataProvenance.FromPath(stim).Kind);
        Assert.Equal(DataKind.RealNsd, DataProvenance.FromDataRoot(NsdRoot(tmp.Path, synthetic: false)).Kind);
        Assert.Equal(1, DataProvenance.FromPath(stim).Subject);
        Assert.Equal(DataKind.Unknown, DataProvenance.FromPath(tmp.Path).Kind);
        // Loops and batch are the protocol, stated in words, not result rows.
        var retrieval = Section(synth, "retrieval");
        Assert.DoesNotContain("<td>loops</td>", retrieval);
        Assert.DoesNotContain("<td>batch</td>", retrieval);
        Assert.Contains("300-way, 30 loops, chance 0.33%", retrieval);
    }

    [Fact]
    public void EveryReconstructionRowGetsAGridRowAndAMetricsColumn()
    {
        using var tmp = new TempDir();
        var inputs = Inputs(tmp.Path);
        MetricsReport Metrics(double pixcorr, double clip, bool random)
        {
            var m = new MetricsReport { N = 4, Indices = [0, 1, 2, 3] };
            m.Metrics["pixcorr"] = new MetricResult(pixcorr, [pixcorr, pixcorr, pixcorr, pixcorr]);
            m.Metrics["clip"] = new MetricResult(clip, [clip, clip, clip, clip]);
            m.Networks["clip"] = "nets/clip";
            if (random) m.NetworkWeights["clip"] = "random weights (brainmclip nets-init, seed 0)";
            return m;
        }
        string upper = Path.Combine(tmp.Path, "M-upper.json"), ridge = Path.Combine(tmp.Path, "M-ridge.json");
        Metrics(0.777, 0.991, random: true).Save(upper);
        Metrics(0.111, 0.525, random: true).Save(ridge);
        Metrics(0.31, 0.75, random: true).Save(inputs.MetricsJson!);
        string ridgeRetrieval = Path.Combine(tmp.Path, "ridge-retrieval.json");
        File.WriteAllText(ridgeRetrieval, """{"semantic": {"image_to_brain_top1": 0.125, "brain_to_image_top1": 0.0625, "loops": 1, "batch": 100}}""");
        string html = ReportBuilder.Build(inputs with
        {
            DataRoot = NsdRoot(tmp.Path, synthetic: true),
            UpperBound = new ReportRow("from true features", inputs.ReconDir, upper),
            Baselines = [new ReportRow("ridge", inputs.ReconDir, ridge, ridgeRetrieval)],
        });
        var metrics = Section(html, "metrics");
        // Header: one column per row, upper bound first, then BrainMCLIP, then ridge; no published columns.
        Assert.Matches("<th>metric</th><th>from true features</th><th>BrainMCLIP</th><th>ridge</th></tr>", metrics);
        Assert.Matches(@"PixCorr ↑</td><td>0\.777</td><td class=""ours"">0\.310</td><td>0\.111</td>", metrics);
        Assert.Matches(
            @"CLIP ↑ <span class=""random"">random net</span></td><td>99\.1%</td><td class=""ours"">75\.0%</td><td>52\.5%</td>", metrics);
        Assert.Contains("Random-weight metric networks", metrics);
        // Grid: ground truth + three rows, each with the 4 test images.
        var grid = Section(html, "grid");
        foreach (var label in new[] { "ground truth", "from true features", "BrainMCLIP", "ridge" })
            Assert.Equal(4, Regex.Matches(grid, $"alt=\"{label} \\d+\"").Count);
        Assert.True(
            grid.IndexOf(">from true features<", StringComparison.Ordinal) < grid.IndexOf(">BrainMCLIP<",
            StringComparison.Ordinal));
        // Retrieval: a column per row that has retrieval, and each row's protocol.
        var retrieval = Section(html, "retrieval");
        Assert.Contains("<th>BrainMCLIP</th><th>ridge</th>", retrieval);
        Assert.Contains("12.50%", retrieval);
        Assert.Contains("ridge: 100-way, 1 loop, chance 1.00%", retrieval);
        // Real NSD data but a 100-way ridge row: the published columns come with a warning.
        string real = ReportBuilder.Build(inputs with
        {
            DataRoot = NsdRoot(tmp.Path, synthetic: false),
            Baselines = [new ReportRow("ridge", inputs.ReconDir, ridge, ridgeRetrieval)],
        });
        Assert.Contains("protocol differs", Section(real, "retrieval"));
        Assert.Contains("<th>MindEye1</th>", Section(real, "retrieval"));
        Assert.Contains("This run differs (subject 1, 4 test images)", Section(real, "metrics"));
    }

    static string Section(string html, string id)
    {
        int a = html.IndexOf($"<section id=\"{id}\">", StringComparison.Ordinal);
        int b = html.IndexOf("</section>", a, StringComparison.Ordinal);
        return html[a..b];
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
