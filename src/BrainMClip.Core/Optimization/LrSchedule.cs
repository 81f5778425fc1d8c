using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Optimization;

/// <summary>
/// The learning rate (and, for OneCycle, AdamW's β1) of every step of a run, set on the optimiser by the training
/// loop: <see cref="Start"/> positions the schedule at a step (0 for a fresh run, the checkpoint's step when resuming,
/// so a resumed run gets exactly the values of an uninterrupted one), <see cref="Advance"/> follows each optimiser
/// step.
/// </summary>
public abstract class LrSchedule
{
    /// <summary>Attaches to the optimiser and sets the values of step <paramref name="step"/> (0-based).</summary>
    public abstract void Start(OptimizerHelper optimizer, long step);

    /// <summary>After an optimiser step: sets the values of the next step.</summary>
    public abstract void Advance();

    /// <summary>The learning rate the next step uses.</summary>
    public abstract double Current { get; }
}

/// <summary>
/// PyTorch's OneCycleLR (TorchSharp's implementation: cosine warm-up over <c>pctStart</c> of the steps from
/// max/25, cosine decay to max/(25·finalDivFactor), β1 cycled 0.95 → 0.85 → 0.95), the brain trainer's schedule. It is
/// stateful, so <see cref="Start"/> replays it to the step.
/// </summary>
public sealed class OneCycleSchedule(double maxLr, long totalSteps, double pctStart, double finalDivFactor)
    : LrSchedule
{
    optim.lr_scheduler.LRScheduler? _scheduler;

    public override void Start(OptimizerHelper optimizer, long step)
    {
        // OneCycleLR divides by (pct_start·total − 1): at exactly 1 (e.g. 2 steps with pct 0.5) the first LR is 0/0 =
        // NaN and the run diverges at step 2. A pct a hair smaller gives the limit value (max LR at step 0).
        double pct = Math.Abs(pctStart * totalSteps - 1) < 1e-9 ? pctStart * (1 - 1e-6) : pctStart;
        _scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr: maxLr, total_steps: (int)totalSteps,
            pct_start: pct, final_div_factor: finalDivFactor);
        // Replaying the schedule restores LR and momentum exactly.
        for (long i = 0; i < step; i++) _scheduler.step();
    }

    public override void Advance() => Scheduler.step();

    public override double Current => Scheduler.get_last_lr().First();

    optim.lr_scheduler.LRScheduler Scheduler =>
        _scheduler ?? throw new InvalidOperationException("OneCycleSchedule: Start was not called");
}

/// <summary>
/// Linear warm-up over <paramref name="warmupSteps"/> (step s gets max·(s+1)/warm-up), then cosine decay from max to
/// <paramref name="floor"/>·max at the last step: clip-train's and the pixel generator's schedule. A pure function of
/// the step.
/// </summary>
public sealed class WarmupCosineSchedule(double maxLr, long warmupSteps, long totalSteps, double floor) : LrSchedule
{
    OptimizerHelper? _optimizer;
    long _step;

    /// <summary>The learning rate at <paramref name="step"/>.</summary>
    public double At(long step)
    {
        long warm = Math.Max(1, warmupSteps);
        if (step < warm) return maxLr * (step + 1) / warm;
        double t = (double)(step - warm) / Math.Max(1, totalSteps - warm);
        return maxLr * (floor + (1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * t)));
    }

    public override void Start(OptimizerHelper optimizer, long step)
    {
        _optimizer = optimizer;
        _step = step;
        Apply();
    }

    public override void Advance()
    {
        _step++;
        Apply();
    }

    public override double Current => At(_step);

    void Apply()
    {
        double lr = At(_step);
        foreach (var g in _optimizer!.ParamGroups) g.LearningRate = lr;
    }
}
