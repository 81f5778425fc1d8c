using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Model;

/// <summary>train → predict → retrieve through the CLI on a small synthetic subject with random-weight CLIP
/// features.</summary>
[Collection("Console")]
public class CliPipelineTests
{
    static (double I2b, double B2i) ReferenceTop1(string pred, string features, string stream)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var pr = Predictions.Load(pred, stream);
        var p = (stream == "semantic" ? pr.Semantic! : pr.Detail!).flatten(1).to_type(TorchSharp.torch.float64);
        var y = BrainMClip.Features.FeatureFile.Read(features, stream).flatten(1).to_type(TorchSharp.torch.float64);
        p = p / p.norm(1, keepdim: true);
        y = y / y.norm(1, keepdim: true);
        var sim = TorchSharp.torch.einsum("ik,jk->ij", y, p).data<double>().ToArray();
        int n = (int)y.shape[0];
        int i2b = 0, b2i = 0;
        for (int i = 0; i < n; i++)
        {
            int bestRow = 0, bestCol = 0;
            for (int j = 1; j < n; j++)
            {
                if (sim[i * n + j] > sim[i * n + bestRow]) bestRow = j;      // image i → predictions
                if (sim[j * n + i] > sim[bestCol * n + i]) bestCol = j;      // prediction i → images
            }
            i2b += bestRow == i ? 1 : 0;
            b2i += bestCol == i ? 1 : 0;
        }
        return ((double)i2b / n, (double)b2i / n);
    }

    static string Ok((int Code, string Out, string Err) r)
    {
        Assert.True(r.Code == 0, $"exit {r.Code}\n{r.Err}");
        return r.Out;
    }

    [Fact]
    public void TrainPredictRetrieveOnSyntheticSubject()
    {
        using var dir = new TempDir();
        string P(string n) => Path.Combine(dir.Path, n);
        Ok(CliRunner.Run("synth", "--out", P("data"), "--train", "60", "--test", "20", "--image-size", "32", "--seed",
            "1"));
        Ok(CliRunner.Run("clip-init", "--out", P("clip"), "--preset", "tiny"));
        Ok(CliRunner.Run("features", "--clip", P("clip"), "--input",
            P("data/processed_data/subj01/nsd_train_stim_sub1.npy"), "--out", P("ftr.safetensors")));
        Ok(CliRunner.Run("features", "--clip", P("clip"), "--input",
            P("data/processed_data/subj01/nsd_test_stim_sub1.npy"), "--out", P("fte.safetensors")));
        File.WriteAllText(P("cfg.json"), """{"base": "tiny", "model": {"hidden": 32, "rank": 4}, "training": {"epochs": 2, "batch_size": 20}}""");

        var train = JsonNode.Parse(
            Ok(CliRunner.Run("train", "--data", P("data"), "--features", P("ftr.safetensors"), "--config",
            P("cfg.json"), "--out", P("run"))))!;
        Assert.Equal(2, train["epochs_completed"]!.GetValue<int>());
        foreach (var f in new[]
            { "config.json", "zscore.safetensors", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "metrics.jsonl",
            "training_curve.png" })
            Assert.True(File.Exists(P("run/" + f)), f);
        var z = SafeTensors.ReadHeader(P("run/zscore.safetensors")).Entries.Keys.Order().ToArray();
        Assert.Equal(["detail.mean", "detail.std", "semantic.mean", "semantic.std"], z);

        // A second training into the same folder without --resume is refused (exit 2); --resume with all epochs done is
        // a no-op.
        Assert.Equal(2,
            CliRunner.Run("train", "--data", P("data"), "--features", P("ftr.safetensors"), "--config", P("cfg.json"),
            "--out", P("run")).Code);
        Ok(CliRunner.Run("train", "--data", P("data"), "--features", P("ftr.safetensors"), "--config", P("cfg.json"),
            "--out", P("run"), "--resume"));

        Ok(CliRunner.Run("predict", "--run", P("run"), "--data", P("data"), "--split", "test", "--out",
            P("pred.safetensors")));
        var h = SafeTensors.ReadHeader(P("pred.safetensors"));
        Assert.Equal(["detail", "detail_projected", "fused", "semantic"], h.Entries.Keys.Order().ToArray());
        var ftHeader = SafeTensors.ReadHeader(P("fte.safetensors"));
        Assert.Equal(ftHeader.Entries["semantic"].Shape, h.Entries["fused"].Shape);
        Assert.Equal(ftHeader.Entries["detail"].Shape, h.Entries["detail"].Shape);

        var ret = JsonNode.Parse(
            Ok(CliRunner.Run("retrieve", "--pred", P("pred.safetensors"), "--features", P("fte.safetensors"))))!;
        foreach (var s in new[] { "semantic", "detail" })
        {
            // Against a float64 reference: one batch of all 20 test samples, cosine argmax in both directions.
            var (i2b, b2i) = ReferenceTop1(P("pred.safetensors"), P("fte.safetensors"), s);
            Assert.Equal(i2b, ret[s]!["image_to_brain_top1"]!.GetValue<double>(), 12);
            Assert.Equal(b2i, ret[s]!["brain_to_image_top1"]!.GetValue<double>(), 12);
            Assert.Equal(1, ret[s]!["loops"]!.GetValue<int>());
            Assert.Equal(20, ret[s]!["batch"]!.GetValue<int>());
        }

        // Ridge through the same commands.
        Ok(CliRunner.Run("train", "--data", P("data"), "--features", P("ftr.safetensors"), "--config", "ridge", "--out",
            P("ridge")));
        Ok(CliRunner.Run("predict", "--run", P("ridge"), "--data", P("data"), "--out", P("pred_ridge.safetensors")));
        Assert.NotNull(
            JsonNode.Parse(
            Ok(CliRunner.Run("retrieve", "--pred", P("pred_ridge.safetensors"), "--features",
            P("fte.safetensors"))))!["semantic"]);

        // Mismatched features (test features given as train) → bad input, exit 2.
        Assert.Equal(2,
            CliRunner.Run("train", "--data", P("data"), "--features", P("fte.safetensors"), "--config", "tiny", "--out",
            P("bad")).Code);
    }

    [Fact]
    public void ParamsJsonForThePaperPresetIsBelowTheClaimedFraction()
    {
        var j = JsonNode.Parse(
            Ok(CliRunner.Run("params", "--config", "paper", "--voxels-detail", "15724", "--voxels-semantic", "4500",
            "--json")))!;
        long total = j["total"]!.GetValue<long>();
        Assert.True(total < 0.283 * ParameterCounts.MindEye1, $"{total}");
        var modules = j["modules"]!.AsObject();
        Assert.Equal(total, modules.Sum(m => m.Value!["total"]!.GetValue<long>()));
        Assert.Equal(["decoder_detail", "decoder_semantic", "encoder_detail", "encoder_semantic", "fusion"],
            modules.Select(m => m.Key).Order().ToArray());
        Assert.Equal(193_640_832, total);
        // The paper preset at NSD subject 1's sizes: the matched references are the published counts.
        Assert.Equal(15724, j["reference_sizes"]!["voxels"]!.GetValue<long>());
        Assert.Equal(ParameterCounts.MindEye1, j["references"]!["mindeye1"]!["total"]!.GetValue<long>());
        Assert.Equal(ParameterCounts.MindBridge, j["references"]!["mindbridge"]!["total"]!.GetValue<long>());
        Assert.Equal(1 - (double)total / ParameterCounts.MindEye1, j["reduction_vs_mindeye1"]!.GetValue<double>());
        Assert.Equal(2, CliRunner.Run("params", "--config", "nope").Code);
    }

    /// <summary>The demo's configuration and sizes: "fewer parameters" only against references counted at 1,508
    /// voxels and 65×64 targets, never against the NSD-sized published counts (issue 29).</summary>
    [Fact]
    public void ParamsJsonForTheDemoComparesAtTheDemosSizes()
    {
        var j = JsonNode.Parse(Ok(CliRunner.Run("params", "--config", "tiny-recon", "--voxels-detail", "1508",
            "--voxels-semantic", "554", "--json")))!;
        long total = j["total"]!.GetValue<long>();
        Assert.Equal(1508, j["reference_sizes"]!["voxels"]!.GetValue<long>());
        Assert.Equal(65, j["reference_sizes"]!["tokens"]!.GetValue<long>());
        Assert.Equal(64, j["reference_sizes"]!["width"]!.GetValue<long>());
        long me1 = j["references"]!["mindeye1"]!["total"]!.GetValue<long>();
        Assert.Equal(94_859_520, me1); // hand count: ReferenceModelTests
        Assert.Equal(1 - (double)total / me1, j["reduction_vs_mindeye1"]!.GetValue<double>());
        Assert.Equal(ParameterCounts.MindEye1, j["references_as_published"]!["mindeye1"]!["total"]!.GetValue<long>());
    }
}
