using static TorchSharp.torch;

namespace BrainMClip.Generation.Schedulers;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
/// algorithm 2, data-prediction multistep second order with the midpoint update), as diffusers'
/// DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", solver_order 2, solver_type "midpoint",
/// lower_order_final true. Sigmas are float32 sqrt((1 − ᾱ)/ᾱ) at the timesteps plus a final sigma
/// (0 for final_sigmas_type "zero"); the update scalars are computed in float64.
/// </summary>
public sealed class DPMSolverMultistepScheduler : IDiffusionScheduler, IDisposable
{
    public SchedulerConfig Config { get; }
    public float[] AlphasCumprod { get; }
    public long[] Timesteps { get; private set; } = [];
    /// <summary>Sigma per timestep, plus the final sigma (length = steps + 1).</summary>
    public float[] Sigmas { get; private set; } = [];
    public double InitNoiseSigma => 1.0;

    int _stepIndex;
    int _lowerOrderNums;
    Tensor? _previousX0;

    public DPMSolverMultistepScheduler(SchedulerConfig config)
    {
        Config = config;
        AlphasCumprod = config.AlphasCumprod();
    }

    public void SetTimesteps(int n)
    {
        int T = Config.NumTrainTimesteps;
        if (n < 1 || n > T) throw UserInputException.Invalid("Steps",
            $"sampling steps must be in 1..{T} (num_train_timesteps; got {n})");
        long[] ts;
        switch (Config.TimestepSpacing)
        {
            case "linspace":
                ts = DDIMScheduler.NumpyLinspace(0, T - 1, n + 1)
                    .Select(v => (long)Math.Round(v, MidpointRounding.ToEven))
                    .Reverse().Take(n).ToArray();
                break;
            case "leading":
            {
                long ratio = T / (n + 1);
                ts = Enumerable.Range(0, n + 1).Select(i => i * ratio).Reverse().Take(n)
                    .Select(v => v + Config.StepsOffset).ToArray();
                break;
            }
            default: // trailing
                ts = DDIMScheduler.NumpyArange(T, 0, -(double)T / n)
                    .Select(v => (long)Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
                break;
        }
        Timesteps = ts;
        var sigmas = new float[ts.Length + 1];
        for (int i = 0; i < ts.Length; i++) sigmas[i] = Sigma(AlphasCumprod[ts[i]]);
        sigmas[^1] = Config.FinalSigmasType == "zero" ? 0f : Sigma(AlphasCumprod[0]);
        Sigmas = sigmas;
        _stepIndex = 0;
        _lowerOrderNums = 0;
        _previousX0?.Dispose();
        _previousX0 = null;
    }

    static float Sigma(float alphaCumprod) => MathF.Sqrt((1f - alphaCumprod) / alphaCumprod);

    static (double Alpha, double Sigma, double Lambda) AlphaSigma(double sigma)
    {
        double alpha = 1.0 / Math.Sqrt(sigma * sigma + 1.0);
        double s = sigma * alpha;
        return (alpha, s, Math.Log(alpha) - Math.Log(s));
    }

    public SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample)
    {
        if (Timesteps.Length == 0) throw new InvalidOperationException("call SetTimesteps before Step");
        if (_stepIndex >= Timesteps.Length)
            throw new InvalidOperationException("all steps have been taken; call SetTimesteps again");
        if (Timesteps[_stepIndex] != timestep)
            throw new InvalidOperationException(
                $"dpm-solver: expected timestep {Timesteps[_stepIndex]} (step {_stepIndex}), got {timestep}");
        using var scope = NewDisposeScope();
        int i = _stepIndex;
        var (alphaS0, sigmaS0, lambdaS0) = AlphaSigma(Sigmas[i]);
        // Data prediction x0 (dpmsolver++ works on x0).
        Tensor x0 = Config.PredictionType switch
        {
            "epsilon" => (sample - modelOutput * sigmaS0) / alphaS0,
            "sample" => modelOutput.clone(),
            _ => sample * alphaS0 - modelOutput * sigmaS0,
        };
        if (Config.ClipSample) x0 = x0.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);
        bool last = i == Timesteps.Length - 1;
        bool lowerOrderFinal = last && (Timesteps.Length < 15 || Config.FinalSigmasType == "zero");
        double sigmaNext = Sigmas[i + 1];
        Tensor prev;
        if (sigmaNext == 0)
        {
            // λ_t = +∞: exp(−h) = 0 and the first-order update returns x0 exactly (α = 1).
            prev = x0.clone();
        }
        else
        {
            var (alphaT, sigmaT, lambdaT) = AlphaSigma(sigmaNext);
            double h = lambdaT - lambdaS0;
            double coef = alphaT * (Math.Exp(-h) - 1.0);
            if (_previousX0 is null || _lowerOrderNums < 1 || lowerOrderFinal)
                prev = sample * (sigmaT / sigmaS0) - x0 * coef;
            else
            {
                var (_, _, lambdaS1) = AlphaSigma(Sigmas[i - 1]);
                double h0 = lambdaS0 - lambdaS1, r0 = h0 / h;
                var d1 = (x0 - _previousX0) * (1.0 / r0);
                prev = sample * (sigmaT / sigmaS0) - x0 * coef - d1 * (0.5 * coef);
            }
        }
        _previousX0?.Dispose();
        _previousX0 = x0.detach().clone().DetachFromDisposeScope();
        if (_lowerOrderNums < 2) _lowerOrderNums++;
        _stepIndex++;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }

    public void Dispose()
    {
        _previousX0?.Dispose();
        _previousX0 = null;
    }
}
