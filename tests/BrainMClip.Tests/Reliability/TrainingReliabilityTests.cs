using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Optimization;
using BrainMClip.Tests.Cli;
using BrainMClip.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Crash safety and health of <c>brainmclip train</c> through the real CLI: SIGKILL at random moments then --resume
/// (tensor-identical checkpoints), a second process refused by the lock, a corrupted checkpoint detected and the
/// previous one used, and path checks before any work.
/// </summary>
[Trait("Category", "Reliability")]
[Collection("Console")]
public class TrainingReliabilityTests(ITestOutputHelper log)
{
    /// <summary>Synthetic subject (40 train images) and its CLIP features from the committed tiny CLIP
    /// fixture.</summary>
    static (string Data, string Features) Setup(string root)
    {
        string data = Path.Combine(root, "data"), feat = Path.Combine(root, "feat.safetensors");
        var (code, _, err) = CliRunner.Run("synth", "--out", data, "--train", "40", "--test", "8", "--image-size", "16",
            "--seed", "2");
        Assert.True(code == 0, err);
        (code, _, err) = CliRunner.Run("features", "--clip", TestPaths.Fixture("clip/clipmodel"), "--input",
            Path.Combine(data, "processed_data", "subj01", "nsd_train_stim_sub1.npy"), "--out", feat, "--batch", "8");
        Assert.True(code == 0, err);
        return (data, feat);
    }

    static string[] TrainArgs(string data, string feat, string run, int epochs) =>
        ["train", "--data", data, "--features", feat, "--config", "tiny", "--epochs", epochs.ToString(), "--seed", "1",
            "--out", run];

    /// <summary>Every tensor of two checkpoints equal byte for byte (metadata holds timings, so files
    /// differ).</summary>
    static void AssertSameTensors(string a, string b)
    {
        using var scope = NewDisposeScope();
        var ta = SafeTensors.Load(a);
        var tb = SafeTensors.Load(b);
        Assert.Equal(ta.Keys.Order(), tb.Keys.Order());
        foreach (var k in ta.Keys)
        {
            Assert.Equal(ta[k].shape, tb[k].shape);
            Assert.True(ta[k].dtype == tb[k].dtype && ta[k].equal(tb[k]).all().item<bool>(),
                $"{Path.GetFileName(a)}: tensor {k} differs");
        }
    }

    [Fact]
    public void TrainKilledAndResumedGivesIdenticalCheckpoints()
    {
        using var dir = new TempDir();
        var (data, feat) = Setup(dir.Path);
        const int epochs = 6;
        string reference = Path.Combine(dir.Path, "ref");
        // The reference is a child process too: float reductions depend on the thread count, which the child fixes.
        var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(3), TrainArgs(data, feat, reference, epochs));
        Assert.True(code == 0, err);

        string run = Path.Combine(dir.Path, "run");
        var rf = new RunFolder(run);
        int Epochs() => File.Exists(rf.MetricsPath) ? File.ReadAllLines(rf.MetricsPath).Count(l => l.Length > 0) : 0;
        void Invariants()
        {
            // Files under final names are complete: checkpoints verify, JSON parses.
            foreach (var ck in new[] { rf.LastCheckpoint, rf.PreviousCheckpoint, rf.BestCheckpoint }.Where(File.Exists))
            {
                using var c = Checkpoint.TryLoad(ck, out var problem);
                Assert.True(c != null, $"{ck}: {problem}");
            }
            if (File.Exists(rf.ConfigPath)) BrainMClipConfig.Parse(File.ReadAllText(rf.ConfigPath), rf.ConfigPath);
            if (File.Exists(rf.MetricsPath)) MetricsLog.Read(rf.MetricsPath);
        }
        int killed = KillResume.Run(TrainArgs(data, feat, run, epochs), kills: 3, seed: 4, Epochs, epochs, Invariants,
            log);
        Assert.True(killed >= 1, "no attempt was killed mid-run");
        AssertSameTensors(new RunFolder(reference).LastCheckpoint, rf.LastCheckpoint);
        AssertSameTensors(new RunFolder(reference).BestCheckpoint, rf.BestCheckpoint);
        Assert.Equal(File.ReadAllBytes(new RunFolder(reference).ZScorePath), File.ReadAllBytes(rf.ZScorePath));
        Assert.Equal(epochs, Epochs());
        log.WriteLine($"train: {killed} kills, resumed checkpoints tensor-identical to the uninterrupted run");
    }

    [Fact]
    public void RunKilledBeforeItsFirstCheckpointResumesFromTheStart()
    {
        using var dir = new TempDir();
        var (data, feat) = Setup(dir.Path);
        string run = Path.Combine(dir.Path, "run");
        var rf = new RunFolder(run);
        using (var child = ChildCli.Start(TrainArgs(data, feat, run, 3)))
        {
            // SIGKILL as soon as the run folder exists: config.json written, no checkpoint yet.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (!child.HasExited && !File.Exists(rf.ConfigPath)
                && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(2);
            child.Kill();
        }
        Assert.True(File.Exists(rf.ConfigPath));
        bool early = !File.Exists(rf.LastCheckpoint);
        var (code, _, err) = CliRunner.Run([.. TrainArgs(data, feat, run, 3), "--resume"]);
        Assert.True(code == 0, err);
        if (early) Assert.Contains("starting from the beginning", err);
        Assert.Equal(3, MetricsLog.Read(rf.MetricsPath).Count);
    }

    [Fact]
    public void SecondProcessOnTheSameRunFolderIsRefused()
    {
        using var dir = new TempDir();
        var (data, feat) = Setup(dir.Path);
        string run = Path.Combine(dir.Path, "run");
        using (new RunFolder(run).Lock()) // this process trains into RUN
        {
            var (code, _, err) = ChildCli.Run(TimeSpan.FromMinutes(2), TrainArgs(data, feat, run, 2));
            Assert.Equal(2, code);
            Assert.Contains("in use by another training process", err);
            Assert.False(File.Exists(new RunFolder(run).LastCheckpoint));
        }
        var (c2, _, e2) = ChildCli.Run(TimeSpan.FromMinutes(2), TrainArgs(data, feat, run, 2)); // lock released: works
        Assert.True(c2 == 0, e2);
    }

    [Fact]
    public void CorruptLastCheckpointIsReportedAndThePreviousOneUsed()
    {
        using var dir = new TempDir();
        var (data, feat) = Setup(dir.Path);
        string reference = Path.Combine(dir.Path, "ref"), run = Path.Combine(dir.Path, "run");
        var (code, _, err) = CliRunner.Run(TrainArgs(data, feat, reference, 3));
        Assert.True(code == 0, err);
        // A finished 3-epoch run whose last checkpoint then rots on disk (one flipped bit in the tensor data).
        (code, _, err) = CliRunner.Run(TrainArgs(data, feat, run, 3));
        Assert.True(code == 0, err);
        var rf = new RunFolder(run);
        var bytes = File.ReadAllBytes(rf.LastCheckpoint);
        bytes[^64] ^= 0x10;
        File.WriteAllBytes(rf.LastCheckpoint, bytes);

        (code, _, err) = CliRunner.Run([.. TrainArgs(data, feat, run, 3), "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains("checksum mismatch", err);
        Assert.Contains("prev.ckpt", err);
        // Epoch 3 was recomputed from the epoch-2 checkpoint: the same weights as the untouched run.
        AssertSameTensors(new RunFolder(reference).LastCheckpoint, rf.LastCheckpoint);
    }

    [Fact]
    public void TrainChecksPathsBeforeWork()
    {
        using var dir = new TempDir();
        var (data, feat) = Setup(dir.Path);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, _,
            err) = CliRunner.Run(
            TrainArgs(data, Path.Combine(dir.Path, "missing.safetensors"), Path.Combine(dir.Path, "r1"), 2));
        Assert.Equal(2, code);
        Assert.Contains("missing.safetensors", err);
        (code, _,
            err) = CliRunner.Run(TrainArgs(Path.Combine(dir.Path, "no-data"), feat, Path.Combine(dir.Path, "r2"), 2));
        Assert.Equal(2, code);
        Assert.Contains("no-data", err);
        string blocker = Path.Combine(dir.Path, "file");
        File.WriteAllText(blocker, "x");
        (code, _, err) = CliRunner.Run(TrainArgs(data, feat, Path.Combine(blocker, "run"), 2));
        Assert.Equal(2, code);
        Assert.Contains("file", err);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "r1"))
            && File.Exists(Path.Combine(dir.Path, "r1", "checkpoints", "last.ckpt")));
        log.WriteLine($"three bad-path train runs rejected in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public void BrainMClipConfigRejectsMutationsCleanly()
    {
        var seeds = new[]
            { "tiny", "paper",
            "ridge" }.Select(p => System.Text.Encoding.UTF8.GetBytes(BrainMClipConfig.Preset(p).ToJson()))
            .Append("""{"base": "tiny", "training": {"epochs": 7}, "ablation": {"no_cross": true}}"""u8.ToArray()).ToArray();
        var r = Fuzzer.Run("brainmclip-config.json", seeds, 1200, ".json", p => BrainMClipConfig.Resolve(p), log,
            mutate: JsonMutator.Mutate);
        Assert.Equal(1200, r.Cases);
        Assert.True(r.Rejected > 0);
    }

    [Theory]
    [InlineData("""{"base": "tiny", "model": {"hiden": 3}}""", "hiden")]
    [InlineData("""{"base": "tiny", "trainig": {"epochs": 3}}""", "trainig")]
    [InlineData("""{"base": "tiny", "training": {"max_lr": -1}}""", "training.max_lr")]
    [InlineData("""{"base": "tiny", "training": {"epochs": 0}}""", "training.epochs")]
    [InlineData("""{"base": "tiny", "loss": {"temperature": 0}}""", "loss.temperature")]
    [InlineData("""{"base": "tiny", "model": {"dropout_blocks": 1.0}}""", "model.dropout_blocks")]
    public void TrainRejectsBadConfigFilesNamingTheField(string json, string field)
    {
        using var dir = new TempDir();
        string cfg = Path.Combine(dir.Path, "bad.json");
        File.WriteAllText(cfg, json);
        // Rejected before any data is read: the data and features paths do not even exist.
        var (code, _, err) = CliRunner.Run("train", "--data", Path.Combine(dir.Path, "d"), "--features",
            Path.Combine(dir.Path, "f.safetensors"),
            "--config", cfg, "--out", Path.Combine(dir.Path, "run"));
        Assert.Equal(2, code);
        Assert.Contains("bad.json", err);
        Assert.Contains(field, err);
    }

    [Fact]
    public void NaNAfterAGoodEpochStopsWithTheLastGoodCheckpointIntact()
    {
        var p = BrainMClip.Tests.Model.ModelTestData.Make(60, 10);
        using var dir = new TempDir();
        var cfg = BrainMClip.Tests.Model.ModelTestData.Tiny(epochs: 3);
        var quiet = new TrainOptions { Log = null, ProgressBar = false, StopAfterEpoch = 1 };
        Trainer.Train(cfg, BrainMClip.Tests.Model.ModelTestData.Training(p), dir.Path, quiet);
        var run = new RunFolder(dir.Path);
        byte[] good = File.ReadAllBytes(run.LastCheckpoint);

        // The data go bad after epoch 1 (e.g. a corrupted feature row): the resumed run must stop at the first NaN.
        p.TrainED[0, 0, 0] = tensor(float.PositiveInfinity);
        var e = Assert.Throws<TrainingDivergedException>(() =>
            Trainer.Train(cfg, BrainMClip.Tests.Model.ModelTestData.Training(p), dir.Path,
            new TrainOptions { Log = null, ProgressBar = false, Resume = true }));
        Assert.Matches(@"step \d+ \(epoch 2\)", e.Message);
        Assert.Matches(@"loss term '[a-z.]+' is (NaN|Infinity|-Infinity)", e.Message);
        Assert.Contains(run.LastCheckpoint, e.Message);
        // Nothing of the diverged epoch was written: last.ckpt is the epoch-1 checkpoint, byte for byte, and verifies.
        Assert.Equal(good, File.ReadAllBytes(run.LastCheckpoint));
        using var ck = Checkpoint.TryLoad(run.LastCheckpoint, out var problem);
        Assert.True(ck != null, problem);
        Assert.Equal(1, ck!.Epoch);
        log.WriteLine($"NaN policy: {e.Message}");
    }
}
