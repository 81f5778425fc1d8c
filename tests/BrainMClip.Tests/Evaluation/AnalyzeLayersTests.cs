using System.Text.Json;
using BrainMClip.Evaluation;
using BrainMClip.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Evaluation;

public class AnalyzeLayersTests
{
    [Fact]
    public void AnalyzeLayersOnSyntheticSubjectWritesCsvPngAndMatchesDirectComputation()
    {
        using var tmp = new TempDir();
        string data = Path.Combine(tmp.Path, "data");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(
            ["synth", "--out", data, "--train", "20", "--test", "16", "--image-size", "32"]));
        var gen = new Generator(5);
        var layers = Enumerable.Range(0, 3).Select(_ => randn([16, 4, 6], generator: gen)).ToList();
        string feat = Path.Combine(tmp.Path, "feat.safetensors");
        SafeTensors.Save(feat, layers.Select((t, k) => (k, t)).ToDictionary(x => $"hidden_states.{x.k}", x => x.t));
        string outDir = Path.Combine(tmp.Path, "layers");
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["analyze-layers", "--features", feat, "--data", data, "--out", outDir]));
        foreach (var f in new[] { "rsa.csv", "cka.csv", "rsa.png", "cka.png", "layers.json" }) Assert.True(
            File.Exists(Path.Combine(outDir, f)), f);

        var (rows, cols, rsa) = LayerAnalysisWriter.ReadCsv(Path.Combine(outDir, "rsa.csv"));
        Assert.Equal(["layer 0", "layer 1", "layer 2"], rows);
        Assert.Contains("nsdgeneral", cols);
        Assert.Contains("low-level", cols);
        var (_, _, cka) = LayerAnalysisWriter.ReadCsv(Path.Combine(outDir, "cka.csv"));
        for (int i = 0; i < 3; i++) Assert.Equal(1.0, cka[i, i], 12);

        // nsdgeneral = every fMRI column; RDMs are scale-free, so the raw test matrix gives the same RSA.
        var fmri = Npy.Read(Path.Combine(data, "processed_data", "subj01", "nsd_test_fmriavg_nsdgeneral_sub1.npy"));
        var x = tensor(fmri.ToFloat32(), fmri.Shape);
        var direct = LayerAnalysis.Run(layers, new Dictionary<string, Tensor> { ["nsdgeneral"] = x });
        int j = Array.IndexOf(cols, "nsdgeneral");
        for (int i = 0; i < 3; i++) Assert.InRange(Math.Abs(rsa[i, j] - direct.Rsa[i, 0]), 0, 1e-9);

        // A feature file whose rows do not match the split is rejected with exit code 2.
        SafeTensors.Save(feat, new Dictionary<string, Tensor> { ["hidden_states.1"] = randn(5, 3) });
        Assert.Equal(2,
            BrainMClip.Cli.Program.Main(["analyze-layers", "--features", feat, "--data", data, "--out", outDir]));
    }
}
