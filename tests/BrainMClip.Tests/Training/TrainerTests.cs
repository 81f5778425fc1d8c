using BrainMClip.Model;
using BrainMClip.Optimization;
using BrainMClip.Tests.Model;
using BrainMClip.Training;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Training;

public class TrainerTests
{
    static readonly TrainOptions Quiet = new() { Log = null, ProgressBar = false };

    static Dictionary<string, Tensor> Weights(string run)
    {
        using var ck = Checkpoint.TryLoad(new RunFolder(run).LastCheckpoint, out var problem)
            ?? throw new Exception(problem);
        return ck.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    static void AssertIdentical(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys)
            Assert.True(a[k].equal(b[k]).all().item<bool>(), $"{k} differs");
    }

    [Fact]
    public void SameSeedGivesIdenticalWeightsAndRunFolderIsComplete()
    {
        var p = ModelTestData.Make(60, 10);
        using var d1 = new TempDir(); using var d2 = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 2);
        var r1 = Trainer.Train(cfg, ModelTestData.Training(p), d1.Path, Quiet);
        Trainer.Train(cfg, ModelTestData.Training(p), d2.Path, Quiet);
        AssertIdentical(Weights(d1.Path), Weights(d2.Path));

        var run = new RunFolder(d1.Path);
        foreach (var f in new[]
            { run.ConfigPath, run.LastCheckpoint, run.BestCheckpoint, run.MetricsPath, run.CurvePath })
            Assert.True(File.Exists(f), f);
        var lines = MetricsLog.Read(run.MetricsPath);
        Assert.Equal(2, lines.Count);
        foreach (var key in new[]
            { "loss.total", "loss.semantic.global", "loss.detail.token", "loss.rec", "loss.cross", "loss.fusion", "lr",
            "val_cosine_semantic", "samples_per_second" })
            Assert.True(lines[1].ContainsKey(key), key);
        Assert.Equal(2, r1.EpochsCompleted);
        // Steps: 48 training samples in batches of 20 → 3 steps per epoch.
        Assert.Equal(6, r1.Steps);
    }

    [Fact]
    public void InterruptedAndResumedRunEndsWithIdenticalWeights()
    {
        var p = ModelTestData.Make(60, 10);
        using var full = new TempDir(); using var split = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 3);
        Trainer.Train(cfg, ModelTestData.Training(p), full.Path, Quiet);
        var first = Trainer.Train(cfg, ModelTestData.Training(p), split.Path,
            new TrainOptions { Log = null, ProgressBar = false, StopAfterEpoch = 1 });
        Assert.True(first.Interrupted);
        // Fresh process state: scramble the global RNG as another run would have.
        manual_seed(999); randn(100);
        Assert.Throws<UserInputException>(() => Trainer.Train(cfg, ModelTestData.Training(p), split.Path, Quiet));
        var resumed = Trainer.Train(cfg, ModelTestData.Training(p), split.Path,
            new TrainOptions { Log = null, ProgressBar = false, Resume = true });
        Assert.False(resumed.Interrupted);
        AssertIdentical(Weights(full.Path), Weights(split.Path));
        Assert.Equal(File.ReadAllText(new RunFolder(full.Path).MetricsPath).Split('\n').Length,
            File.ReadAllText(new RunFolder(split.Path).MetricsPath).Split('\n').Length);
    }

    [Fact]
    public void CorruptedLastCheckpointFallsBackToThePreviousGoodOne()
    {
        var p = ModelTestData.Make(60, 10);
        using var dir = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 3);
        Trainer.Train(cfg, ModelTestData.Training(p), dir.Path,
            new TrainOptions { Log = null, ProgressBar = false, StopAfterEpoch = 2 });
        var run = new RunFolder(dir.Path);
        // Flip one byte in the tensor data of last.ckpt (epoch 2).
        var bytes = File.ReadAllBytes(run.LastCheckpoint);
        bytes[^100] ^= 0x5A;
        File.WriteAllBytes(run.LastCheckpoint, bytes);
        Assert.Null(Checkpoint.TryLoad(run.LastCheckpoint, out var problem));
        Assert.Contains("checksum", problem);

        var log = new StringWriter();
        using (var ck = run.LoadLatestGood(log)) Assert.Equal(1, ck.Epoch);
        Assert.Contains("checksum mismatch", log.ToString());
        var resumed = Trainer.Train(cfg, ModelTestData.Training(p), dir.Path,
            new TrainOptions { Log = null, ProgressBar = false, Resume = true });
        Assert.Equal(3, resumed.EpochsCompleted);
        Assert.Equal(3, MetricsLog.Read(run.MetricsPath).Count);
    }

    [Fact]
    public void NaNInALossTermStopsTrainingNamingTheTerm()
    {
        var p = ModelTestData.Make(60, 10);
        p.TrainES[5, 1, 2] = tensor(float.NaN);
        using var dir = new TempDir();
        var e = Assert.Throws<TrainingDivergedException>(() =>
            Trainer.Train(ModelTestData.Tiny(epochs: 2, valFraction: 0), ModelTestData.Training(p), dir.Path, Quiet));
        Assert.Contains("semantic.global", e.Message);
        Assert.Matches(@"step \d+ \(epoch 1\)", e.Message);
        Assert.False(File.Exists(new RunFolder(dir.Path).LastCheckpoint));
    }

    [Fact]
    public void LockRefusesASecondTrainerOnTheSameFolder()
    {
        using var dir = new TempDir();
        var run = new RunFolder(dir.Path);
        using (run.Lock())
        {
            var p = ModelTestData.Make(30, 5);
            var e = Assert.Throws<UserInputException>(() =>
                Trainer.Train(ModelTestData.Tiny(epochs: 1), ModelTestData.Training(p), dir.Path, Quiet));
            Assert.Contains("in use", e.Message);
        }
        using (run.Lock()) { }   // released
    }

    [Fact]
    public void ShortTrainingBeatsChanceRetrievalByAWideMargin()
    {
        var p = ModelTestData.Make(300, 50, noise: 0.2);
        using var dir = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 15, batch: 25, valFraction: 0.1);
        cfg = cfg with { Model = cfg.Model with { Hidden = 64 }, Training = cfg.Training with { MaxLr = 3e-3 } };
        Trainer.Train(cfg, ModelTestData.Training(p), dir.Path, Quiet);
        using var predictor = Predictor.Open(dir.Path);
        using var pred = predictor.Predict(p.TestDetail, p.TestSemantic);
        var sem = Retrieval.Compute(pred.Semantic!, p.TestES, batch: 300);
        var det = Retrieval.Compute(pred.Detail!, p.TestED, batch: 300);
        // Chance is 1/50 = 0.02.
        Assert.True(sem.BrainToImageTop1 > 0.3 && sem.ImageToBrainTop1 > 0.3, $"semantic {sem}");
        Assert.True(det.BrainToImageTop1 > 0.3, $"detail {det}");
        Assert.Equal(new long[] { 50, 3, 6 }, pred.Fused!.shape);
        Assert.Equal(new long[] { 50, 3, 6 }, pred.DetailProjected!.shape);
    }

    [Fact]
    public void RidgeSkipHoldsTheClosedFormRidgeFitAndIsNotTrained()
    {
        var p = ModelTestData.Make(60, 10);
        using var dir = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 2);
        cfg = cfg with { Model = cfg.Model with { RidgeSkip = true } };
        Trainer.Train(cfg, ModelTestData.Training(p), dir.Path, Quiet);
        var w = Weights(dir.Path);
        // The linear path is the baseline's ridge fit on all training rows (validation part included), unchanged by
        // training (a buffer, not a parameter).
        var map = Ridge.Fit(p.TrainSemantic, p.TrainES.flatten(1), cfg.Ridge.Alphas, cfg.Ridge.Folds,
            cfg.Training.Seed);
        Assert.True(w["model.encoder_semantic.skip_weight"].equal(map.Weight).all().item<bool>());
        Assert.True(w["model.encoder_semantic.skip_bias"].equal(map.Bias).all().item<bool>());
        Assert.Equal(new long[] { 40, 3 * 8 }, w["model.encoder_detail.skip_weight"].shape);
        using var net = new BrainMClipNet(
            cfg with { Model = cfg.Model with { Tokens = 3, DetailWidth = 8, SemanticWidth = 6 } }, 40, 24);
        Assert.DoesNotContain(net.named_parameters(), q => q.name.Contains("skip", StringComparison.Ordinal));
    }

    [Fact]
    public void RidgeRunPredictsThroughTheSamePredictor()
    {
        var p = ModelTestData.Make(120, 30, noise: 0.2);
        using var dir = new TempDir();
        var cfg = BrainMClipConfig.Preset("ridge");
        RidgeBaseline.Train(cfg, ModelTestData.Training(p), dir.Path);
        using var predictor = Predictor.Open(dir.Path);
        using var pred = predictor.Predict(p.TestDetail, p.TestSemantic);
        Assert.Equal(new long[] { 30, 3, 8 }, pred.Detail!.shape);
        var sem = Retrieval.Compute(pred.Semantic!, p.TestES);
        Assert.True(sem.BrainToImageTop1 > 0.3, $"ridge semantic {sem}");
        using var d2 = new TempDir();
        pred.Save(Path.Combine(d2.Path, "pred.safetensors"));
        var names = BrainMClip.IO.SafeTensors.ReadHeader(Path.Combine(d2.Path, "pred.safetensors")).Entries.Keys.Order()
            .ToArray();
        Assert.Equal(["detail", "detail_projected", "fused", "semantic"], names);
    }

    [Fact]
    public void RetrievalBothKeepsTheEpochWithTheBestMeanOfBothStreamsValidationTop1()
    {
        var p = ModelTestData.Make(120, 10);
        using var d = new TempDir();
        var cfg = ModelTestData.Tiny(epochs: 8, seed: 1, valFraction: 0.25);
        // The low-rank head (tiny's before 30 Nov) gives this problem epochs where the two rules disagree.
        cfg = cfg with
        {
            Model = cfg.Model with { Head = "low_rank" },
            Training = cfg.Training with { SelectBy = "retrieval_both" },
        };
        var r = Trainer.Train(cfg, ModelTestData.Training(p), d.Path, Quiet);
        var lines = MetricsLog.Read(new RunFolder(d.Path).MetricsPath);
        var score = lines.Select(l =>
            (l["val_top1"]!.GetValue<double>() + l["val_top1_detail"]!.GetValue<double>()) / 2).ToList();
        int expected = score.IndexOf(score.Max()) + 1;                 // the first epoch with the highest mean
        Assert.Equal(expected, r.BestEpoch);
        Assert.Equal(score.Max(), r.BestValidationCosine, 12);
        // On this problem the semantic stream alone would keep another epoch, so the test sees the detail term.
        var semantic = lines.Select(l => l["val_top1"]!.GetValue<double>()).ToList();
        Assert.NotEqual(semantic.IndexOf(semantic.Max()) + 1, r.BestEpoch);
        var bad = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(
            """{"base": "tiny", "training": {"select_by": "both"}}""", "cfg"));
        Assert.Contains("training.select_by", bad.Message);
    }
}

public class AblationRunnerTests
{
    [Fact]
    public void WritesJsonAndCsvForEachVariant()
    {
        var p = ModelTestData.Make(60, 12);
        using var dir = new TempDir();
        var result = AblationRunner.Run(ModelTestData.Tiny(epochs: 1), ModelTestData.Training(p), p.TestDetail,
            p.TestSemantic,
            new FeatureStore(p.TestED, p.TestES), dir.Path, ["semantic_only", "ridge"]);
        var rows = result["variants"]!.AsArray();
        Assert.Equal(2, rows.Count);
        Assert.Null(rows[0]!["detail"]);
        Assert.NotNull(rows[1]!["detail"]);
        Assert.True(File.Exists(Path.Combine(dir.Path, "ablations.json")));
        var csv = File.ReadAllLines(Path.Combine(dir.Path, "ablations.csv"));
        Assert.Equal(3, csv.Length);
        Assert.StartsWith("semantic_only,", csv[1]);
        Assert.True(File.Exists(Path.Combine(dir.Path, "ridge", "pred_test.safetensors")));
        Assert.Equal(AblationRunner.Variants.Count, AblationRunner.Variants.Distinct().Count());
        Assert.Throws<UserInputException>(() => AblationRunner.VariantConfig(ModelTestData.Tiny(), "bogus"));
    }
}
