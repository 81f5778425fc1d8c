using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// The one training loop of the brain trainer, clip-train and the pixel generator. A trainer supplies its model, data
/// and loss (<see cref="ITrainingTask"/>); the loop owns the rest: the run's generators (seeded per run, checkpointed;
/// never the process-wide RNG), AdamW (<see cref="AdamW"/>), the learning-rate schedule (<see cref="LrSchedule"/>),
/// gradient clipping, the checkpoint after every epoch (last, previous and best) from which a resumed run continues
/// bit-for-bit, the progress bar and metrics.jsonl.
/// A step: forward and loss, every recorded term read back and checked finite, gradients released, backward, each
/// clipping group clipped on its own, AdamW step, schedule advanced, gradients released (they live only from backward
/// to the update).
/// </summary>
public sealed class TrainingLoop : IDisposable
{
    readonly ITrainingTask _task;
    readonly OptimizationSettings _settings;
    readonly LoopFiles _files;
    readonly RunGenerators _generators;

    /// <summary>The optimiser: AdamW over the settings' groups, all at the peak learning rate until the schedule
    /// starts.</summary>
    public AdamW Optimizer { get; }
    public int Epochs { get; }
    /// <summary>Completed epochs.</summary>
    public int Epoch { get; private set; }
    /// <summary>Completed optimiser steps.</summary>
    public long Step { get; private set; }
    /// <summary>The learning rate of the last step taken (NaN before the first).</summary>
    public double LastLr { get; private set; } = double.NaN;
    /// <summary>One line per completed epoch (restored from the checkpoint when resuming).</summary>
    public List<JsonObject> Metrics { get; } = [];
    /// <summary>The progress bar's label; null for no bar.</summary>
    public string? ProgressLabel { get; init; }
    public TextWriter? Log { get; init; }

    /// <param name="generators">The run's generators (the caller keeps and disposes them); their states travel in
    /// the checkpoints.</param>
    public TrainingLoop(ITrainingTask task, int epochs, OptimizationSettings settings, LoopFiles files,
        RunGenerators generators)
    {
        _task = task; _settings = settings; _files = files; Epochs = epochs; _generators = generators;
        var groups = settings.Groups
            .Select(g => new TorchSharp.Modules.AdamW.ParamGroup(g.Parameters, lr: settings.MaxLr,
                weight_decay: g.WeightDecay)).ToList();
        Optimizer = new AdamW(groups, settings.MaxLr, settings.Groups[0].WeightDecay);
        // Temp files of a process killed while writing (checkpoints are large).
        foreach (var f in new[] { files.LastCheckpoint, files.PreviousCheckpoint, files.BestCheckpoint,
                     files.MetricsPath })
            if (f is not null) AtomicFile.DeleteStaleTemps(f);
    }

    /// <summary>Weights, optimiser, generators, epoch, step, metrics and the trainer's state from a checkpoint (the
    /// caller disposes it).</summary>
    public void Restore(Checkpoint checkpoint)
    {
        Checkpoint.LoadModel(_task.Model, checkpoint, "checkpoint");
        using (var ms = new MemoryStream(Checkpoint.TensorBytes(checkpoint.Tensors[OptimizerKey])))
        using (var br = new BinaryReader(ms)) Optimizer.load_state_dict(br);
        foreach (var (name, g) in _generators.All) g.set_state(checkpoint.Tensors[RngPrefix + name]);
        Epoch = checkpoint.Epoch;
        Step = checkpoint.Step;
        _task.RestoreState(checkpoint);
        Metrics.AddRange(checkpoint.MetricsHistory());
    }

    /// <summary>Sets the schedule's values for the next step (after <see cref="Restore"/> when resuming).</summary>
    public void StartSchedule() => _settings.Schedule.Start(Optimizer, Step);

    /// <summary>
    /// Runs the remaining epochs, or stops once <paramref name="stopAfterEpoch"/> are completed (as if interrupted; the
    /// run can be resumed; at least one epoch runs). Returns whether every epoch is done.
    /// </summary>
    public bool Run(int? stopAfterEpoch = null)
    {
        int stop = Math.Min(Epochs, stopAfterEpoch is { } s ? Math.Max(s, Epoch + 1) : Epochs);
        long total = Enumerable.Range(0, Epochs).Sum(e => _task.StepsIn(e));
        using var bar = ProgressLabel is not null && Log is not null && Epoch < stop
            ? new ProgressBar(ProgressLabel, total, "step", Log) : null;
        if (Step > 0) bar?.Advance(Step);
        while (Epoch < stop)
        {
            int epoch = Epoch;
            var clock = Stopwatch.StartNew();
            var stats = new EpochStats();
            _task.BeginEpoch(epoch);
            long steps = _task.StepsIn(epoch);
            for (long i = 0; i < steps; i++) TakeStep(epoch, i, stats, bar);
            stats.Seconds = clock.Elapsed.TotalSeconds;
            var end = _task.EndEpoch(epoch, stats);
            Metrics.Add(end.Metrics);
            Epoch = epoch + 1;
            SaveCheckpoints(end.Best);
            if (_files.MetricsPath is { } path) MetricsLog.Write(path, Metrics);
            _task.AfterCheckpoint(epoch);
        }
        return Epoch >= Epochs;
    }

    void TakeStep(int epoch, long index, EpochStats stats, ProgressBar? bar)
    {
        using var scope = NewDisposeScope();
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        long weight;
        // Forward, loss and backward in a scope of their own: the outputs and loss intermediates it holds are freed
        // before the update instead of adding to its memory.
        using (var pass = NewDisposeScope())
        {
            var loss = _task.Loss(epoch, index);
            foreach (var (name, v) in loss.Terms)
            {
                double x = v.item<float>();
                if (!double.IsFinite(x))
                    throw new TrainingDivergedException(
                        $"training stopped at step {Step + 1} (epoch {epoch + 1}): loss term '{name}' is {x}; the " +
                        $"last good checkpoint ({(File.Exists(_files.LastCheckpoint) ? _files.LastCheckpoint
                            : "none yet")}) is kept");
                values[name] = x;
            }
            weight = loss.Weight;
            ReleaseGradients();
            loss.Objective.backward();
        }
        _task.AfterBackward(epoch, index);
        double gradNorm = 0;
        foreach (var g in _settings.ClipGroups) gradNorm += nn.utils.clip_grad_norm_(g, _settings.MaxGradNorm);
        if (!double.IsFinite(gradNorm)) ThrowNonFiniteGradient(epoch, gradNorm);
        LastLr = _settings.Schedule.Current;
        Optimizer.step();
        _settings.Schedule.Advance();
        Step++;
        ReleaseGradients();
        _task.AfterStep(Step - 1, values);
        foreach (var (k, v) in values) stats.Sums[k] = stats.Sums.GetValueOrDefault(k) + v * weight;
        stats.Seen += weight;
        stats.Steps++;
        stats.GradNormSum += gradNorm;
        bar?.Advance(1, _task.Progress(values, stats));
    }

    void ThrowNonFiniteGradient(int epoch, double norm)
    {
        string bad = _task.Model.named_parameters()
            .FirstOrDefault(p => p.parameter.grad is { } g && !g.isfinite().all().item<bool>()).name ?? "?";
        throw new TrainingDivergedException(
            $"training stopped at step {Step + 1} (epoch {epoch + 1}): gradient of '{bad}' is NaN/Inf (norm {norm}); " +
            "the last good checkpoint is kept");
    }

    /// <summary>
    /// Frees every gradient (set to none, PyTorch 2's zero_grad default). Gradients then live only from backward to
    /// the update: the next forward and loss run without them, and backward stores each parameter's first gradient
    /// instead of adding a temporary into zeros. Values are those of zeroing (0 + g = g; only a −0 entry stays −0).
    /// </summary>
    void ReleaseGradients() => _task.Model.zero_grad(set_to_none: true);

    /// <summary>Rotates last → previous (through a temp file + rename: a kill mid-copy leaves no partial file), writes
    /// the last checkpoint and, for the best epoch, the best one.</summary>
    void SaveCheckpoints(bool best)
    {
        using var ck = MakeCheckpoint(Epoch);
        Directory.CreateDirectory(Path.GetDirectoryName(_files.LastCheckpoint)!);
        if (File.Exists(_files.LastCheckpoint))
            AtomicFile.Write(_files.PreviousCheckpoint, dst =>
            {
                using var src = File.OpenRead(_files.LastCheckpoint); src.CopyTo(dst);
            });
        ck.Save(_files.LastCheckpoint);
        if (best && _files.BestCheckpoint is { } path) ck.Save(path);
    }

    const string OptimizerKey = "optimizer", RngPrefix = "rng.";

    /// <summary>The complete state after <paramref name="epoch"/> epochs: weights, optimiser, generators, epoch,
    /// step, the trainer's state and the metrics history.</summary>
    public Checkpoint MakeCheckpoint(int epoch)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in _task.Model.state_dict()) tensors["model." + k] = v.detach().clone();
        using (var ms = new MemoryStream())
        {
            using (var bw = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true)) Optimizer.save_state_dict(bw);
            tensors[OptimizerKey] = Checkpoint.BytesTensor(ms.ToArray());
        }
        foreach (var (name, g) in _generators.All) tensors[RngPrefix + name] = g.get_state();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["step"] = Step.ToString(CultureInfo.InvariantCulture),
            ["scheduler_steps"] = Step.ToString(CultureInfo.InvariantCulture),
        };
        _task.SaveState(tensors, meta);
        meta["metrics"] = string.Join("\n", Metrics.Select(m => m.ToJsonString()));
        return new Checkpoint { Tensors = tensors, Metadata = meta };
    }

    public void Dispose() => Optimizer.Dispose();
}
