using System.Text.Json.Nodes;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// What a trainer gives <see cref="TrainingLoop"/>: its model, its data (per epoch and per step) and its loss. The
/// loop owns everything else: the optimiser, the schedule, clipping, the generators' states, checkpoints, the progress
/// bar and metrics.jsonl.
/// </summary>
public interface ITrainingTask
{
    /// <summary>The module whose state is checkpointed as <c>model.*</c> (and whose gradients are released).</summary>
    nn.Module Model { get; }

    /// <summary>Optimiser steps in <paramref name="epoch"/> (an epoch is the unit between checkpoints).</summary>
    long StepsIn(int epoch);

    /// <summary>Before the first step of an epoch: the model in training mode, the epoch's order drawn.</summary>
    void BeginEpoch(int epoch);

    /// <summary>Forward and loss of step <paramref name="index"/> of <paramref name="epoch"/> (inside a dispose scope
    /// the loop owns).</summary>
    StepLoss Loss(int epoch, long index);

    /// <summary>After backward, before clipping (e.g. to read gradient norms).</summary>
    void AfterBackward(int epoch, long index) { }

    /// <summary>After the optimiser step <paramref name="step"/> (0-based; e.g. an average of the weights), with the
    /// step's recorded terms.</summary>
    void AfterStep(long step, IReadOnlyDictionary<string, double> terms) { }

    /// <summary>The progress bar's text after a step.</summary>
    string Progress(IReadOnlyDictionary<string, double> step, EpochStats epoch);

    /// <summary>
    /// After the last step of an epoch: the epoch's metrics.jsonl line, and whether this is the best epoch so far (the
    /// loop then also writes the best checkpoint, if the run has one).
    /// </summary>
    EpochEnd EndEpoch(int epoch, EpochStats stats);

    /// <summary>After the loop wrote the epoch's checkpoints and metrics.jsonl.</summary>
    void AfterCheckpoint(int epoch) { }

    /// <summary>The trainer's own state for a checkpoint, added after the loop's (weights, optimiser, generators,
    /// epoch, step) and before the metrics history.</summary>
    void SaveState(Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata) { }

    /// <summary>Restores what <see cref="SaveState"/> wrote.</summary>
    void RestoreState(Checkpoint checkpoint) { }
}

/// <summary>
/// One step's objective (backpropagated) and the terms to record (read back as numbers and checked finite; the loop
/// stops the run with <see cref="TrainingDivergedException"/> on NaN/Inf). <paramref name="Weight"/> weights the terms
/// in the epoch sums (e.g. the batch size).
/// </summary>
public sealed record StepLoss(Tensor Objective, IReadOnlyList<(string Name, Tensor Value)> Terms, long Weight = 1);

/// <summary>An epoch's metrics line and whether it is the best epoch so far.</summary>
public sealed record EpochEnd(JsonObject Metrics, bool Best = false);

/// <summary>Weighted sums of the step terms over an epoch, the summed gradient norm and the wall time.</summary>
public sealed class EpochStats
{
    public SortedDictionary<string, double> Sums { get; } = new(StringComparer.Ordinal);
    /// <summary>Sum of the steps' weights (samples seen when the weight is the batch size).</summary>
    public long Seen { get; internal set; }
    public long Steps { get; internal set; }
    /// <summary>Sum over steps of the gradient norm before clipping (summed over clipping groups).</summary>
    public double GradNormSum { get; internal set; }
    public double Seconds { get; internal set; }

    /// <summary>The weighted mean of a term.</summary>
    public double Mean(string term) => Sums.GetValueOrDefault(term) / Math.Max(1, Seen);
}

/// <summary>How the loop optimises: the AdamW parameter groups (each with its weight decay), the peak learning rate
/// and its schedule, and gradient clipping (each group clipped to <see cref="MaxGradNorm"/> on its own).</summary>
public sealed record OptimizationSettings
{
    public required IReadOnlyList<(IReadOnlyList<Parameter> Parameters, double WeightDecay)> Groups { get; init; }
    public required double MaxLr { get; init; }
    public required LrSchedule Schedule { get; init; }
    public required IReadOnlyList<IReadOnlyList<Parameter>> ClipGroups { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
}

/// <summary>Where the loop writes: checkpoints (last, previous and, when the trainer selects one, best), metrics.jsonl,
/// and its messages and progress bar.</summary>
public sealed record LoopFiles
{
    public required string LastCheckpoint { get; init; }
    public required string PreviousCheckpoint { get; init; }
    public string? BestCheckpoint { get; init; }
    public string? MetricsPath { get; init; }
}
