using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// Training (docs/model.md): the brain trainer's part (<see cref="TrainingSession"/>: network, data, loss, validation)
/// in the shared <see cref="TrainingLoop"/> (AdamW with no decay on biases/norms, OneCycle, gradient clipping, seeded
/// and deterministic on CPU, resumable bit-for-bit from the checkpoint written at the end of every epoch).
/// </summary>
public static class Trainer
{
    public static TrainResult Train(BrainMClipConfig cfg, TrainingData data, string runDir,
        TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        data.Validate();
        var run = new RunFolder(runDir);
        using var runLock = run.Lock();
        cfg = data.Configure(cfg);
        var resumeFrom = ResumeOrStart(cfg, run, options);
        PrepareRunFolder(run, options);
        using var split = TrainSplit.Draw(data.Samples, cfg.Training);
        using var session = new TrainingSession(cfg, data, split, run, options.Log, options.ProgressBar);
        session.InitializeNetwork(resuming: resumeFrom is not null);
        session.BuildLoop();
        if (resumeFrom is not null) session.Restore(resumeFrom);
        session.StartSchedule();
        if (resumeFrom is null) session.SaveLinearPathAsEpochZero();
        bool done = session.Loop.Run(options.StopAfterEpoch);
        return session.Result(interrupted: !done);
    }

    /// <summary>
    /// With --resume and something to resume, checks the saved configuration and returns the newest good checkpoint
    /// (null if the run stopped before its first one); otherwise starts a fresh run folder and returns null.
    /// </summary>
    static Checkpoint? ResumeOrStart(BrainMClipConfig cfg, RunFolder run, TrainOptions options)
    {
        var log = options.Log;
        bool hasCheckpoint = File.Exists(run.LastCheckpoint) || File.Exists(run.PreviousCheckpoint);
        // A run killed before its first checkpoint (or before writing config.json) has nothing to resume: --resume
        // then starts it from the beginning, which gives exactly the uninterrupted result.
        if (options.Resume && (hasCheckpoint || File.Exists(run.ConfigPath)))
        {
            if (!File.Exists(run.ConfigPath))
                throw new UserInputException($"{run.ConfigPath}: cannot resume, the run folder has no config.json");
            var saved = BrainMClipConfig.Parse(File.ReadAllText(run.ConfigPath), run.ConfigPath);
            if (saved.ToJson() != cfg.ToJson())
                throw new UserInputException(
                    $"{run.ConfigPath}: the run was started with a different configuration; resume with the same " +
                    $"configuration, epochs and seed (saved: {saved.Training.Epochs} epochs, seed " +
                    $"{saved.Training.Seed})");
            if (hasCheckpoint) return run.LoadLatestGood(log);
            log?.WriteLine(
                $"{run.Root}: no checkpoint yet (the run stopped during its first epoch); starting from the beginning");
            return null;
        }
        if (hasCheckpoint)
            throw new UserInputException(
                $"{run.Root}: already holds a training run; resume it or choose another run folder");
        Directory.CreateDirectory(run.Root);
        AtomicFile.WriteAllText(run.ConfigPath, cfg.ToJson() + "\n");
        return null;
    }

    static void PrepareRunFolder(RunFolder run, TrainOptions options)
    {
        // Temp files of a process killed while writing a checkpoint (checkpoints are large).
        foreach (var f in new[] { run.LastCheckpoint, run.PreviousCheckpoint, run.BestCheckpoint, run.MetricsPath,
                     run.CurvePath })
            AtomicFile.DeleteStaleTemps(f);
        options.PrepareRun?.Invoke(run);
    }

    /// <summary>Weight decay on weight matrices only; none on biases, norms and the learned token bias
    /// (MindBridge).</summary>
    public static (List<Parameter> decay, List<Parameter> noDecay) ParameterGroups(nn.Module net)
    {
        var decay = new List<Parameter>(); var noDecay = new List<Parameter>();
        foreach (var (name, p) in net.named_parameters())
        {
            bool no = name.EndsWith("bias", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal)
                || p.dim() < 2;
            (no ? noDecay : decay).Add(p);
        }
        return (decay, noDecay);
    }
}

/// <summary>The seeded validation split of a run (the same for a run and its resumptions) and the batch
/// count.</summary>
sealed class TrainSplit : IDisposable
{
    public required Tensor TrainRows { get; init; }
    public required Tensor ValidationRows { get; init; }
    public long Train => TrainRows.shape[0];
    public long Validation => ValidationRows.shape[0];
    public required long StepsPerEpoch { get; init; }

    public static TrainSplit Draw(long n, TrainingSection t)
    {
        long nVal = (long)Math.Round(n * t.ValFraction);
        if (n - nVal < 2)
            throw new UserInputException(
                $"training split has {n} samples; need at least 2 after holding out {nVal} for validation");
        using var splitGen = new Generator((ulong)t.Seed + 7919);
        var perm = randperm(n, generator: splitGen);
        var valIdx = perm.narrow(0, 0, nVal).sort().Values.DetachFromDisposeScope();
        var trainIdx = perm.narrow(0, nVal, n - nVal).sort().Values.DetachFromDisposeScope();
        long nTrain = trainIdx.shape[0];
        // A final batch of one sample has no negatives for SoftCLIP; it is dropped (at most one sample per epoch).
        long steps = nTrain / t.BatchSize + (nTrain % t.BatchSize >= 2 ? 1 : 0);
        return new TrainSplit { TrainRows = trainIdx, ValidationRows = valIdx, StepsPerEpoch = steps };
    }

    public void Dispose()
    {
        TrainRows.Dispose(); ValidationRows.Dispose();
    }
}
