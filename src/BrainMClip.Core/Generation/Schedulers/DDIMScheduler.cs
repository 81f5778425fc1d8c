using static TorchSharp.torch;

namespace BrainMClip.Generation.Schedulers;

/// <summary>One scheduler step: the next sample and the model's estimate of the clean sample x0.</summary>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor PredOriginalSample);

/// <summary>A sampler over a discrete training schedule, used as diffusers' schedulers are.</summary>
public interface IDiffusionScheduler
{
    SchedulerConfig Config { get; }
    /// <summary>Set by <see cref="SetTimesteps"/>, in sampling order (descending).</summary>
    long[] Timesteps { get; }
    /// <summary>Float32 cumulative products of (1 − beta).</summary>
    float[] AlphasCumprod { get; }
    double InitNoiseSigma { get; }
    void SetTimesteps(int numInferenceSteps);
    /// <summary>Advances from timestep <paramref name="timestep"/>; steps must be taken in the order of <see
    /// cref="Timesteps"/>.</summary>
    SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample);
}

/// <summary>
/// diffusers DDIMScheduler with eta = 0 (deterministic): leading / trailing / linspace spacing, steps_offset,
/// set_alpha_to_one, epsilon / v_prediction / sample predictions, optional clip_sample. Schedule scalars are float32
/// like diffusers' tensors.
/// </summary>
public sealed class DDIMScheduler : IDiffusionScheduler
{
    public SchedulerConfig Config { get; }
    public float[] AlphasCumprod { get; }
    public float FinalAlphaCumprod { get; }
    public long[] Timesteps { get; private set; } = [];
    public int NumInferenceSteps { get; private set; }
    public double InitNoiseSigma => 1.0;

    public DDIMScheduler(SchedulerConfig config)
    {
        Config = config;
        AlphasCumprod = config.AlphasCumprod();
        FinalAlphaCumprod = config.SetAlphaToOne ? 1.0f : AlphasCumprod[0];
    }

    public static DDIMScheduler FromConfigFile(string path) => new(SchedulerConfig.Load(path));

    public void SetTimesteps(int numInferenceSteps)
    {
        int T = Config.NumTrainTimesteps;
        if (numInferenceSteps < 1 || numInferenceSteps > T)
            throw UserInputException.Invalid("Steps",
                $"sampling steps must be in 1..{T} (num_train_timesteps; got {numInferenceSteps})");
        NumInferenceSteps = numInferenceSteps;
        Timesteps = ComputeTimesteps(Config, numInferenceSteps);
    }

    /// <summary>DDIM timesteps for each spacing, with numpy's round-half-to-even as diffusers uses.</summary>
    public static long[] ComputeTimesteps(SchedulerConfig c, int n)
    {
        int T = c.NumTrainTimesteps;
        switch (c.TimestepSpacing)
        {
            case "linspace":
            {
                var ts = NumpyLinspace(0, T - 1, n).Select(v => (long)Math.Round(v, MidpointRounding.ToEven)).ToArray();
                Array.Reverse(ts);
                return ts;
            }
            case "leading":
            {
                long ratio = T / n;
                var ts = Enumerable.Range(0, n).Select(i => i * ratio + c.StepsOffset).ToArray();
                Array.Reverse(ts);
                return ts;
            }
            case "trailing":
            {
                double ratio = (double)T / n;
                return NumpyArange(T, 0, -ratio).Select(v => (long)Math.Round(v, MidpointRounding.ToEven) - 1)
                    .ToArray();
            }
            default:
                throw new UserInputException($"timestep_spacing \"{c.TimestepSpacing}\" is not supported");
        }
    }

    internal static double[] NumpyLinspace(double start, double stop, int num)
    {
        if (num == 1) return [start];
        double step = (stop - start) / (num - 1);
        var r = new double[num];
        for (int i = 0; i < num; i++) r[i] = i * step + start;
        r[^1] = stop;
        return r;
    }

    internal static double[] NumpyArange(double start, double stop, double step)
    {
        int len = (int)Math.Ceiling((stop - start) / step);
        var r = new double[Math.Max(len, 0)];
        if (len <= 0) return r;
        double delta = (start + step) - start;
        for (int i = 0; i < len; i++) r[i] = start + i * delta;
        return r;
    }

    /// <summary>The timestep the step from <paramref name="timestep"/> lands on (may be negative: then the final alpha
    /// is used).</summary>
    public long PrevTimestep(long timestep) => timestep - Config.NumTrainTimesteps / NumInferenceSteps;

    public float AlphaProd(long t) => t >= 0 ? AlphasCumprod[t] : FinalAlphaCumprod;

    public SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample)
    {
        if (NumInferenceSteps == 0) throw new InvalidOperationException("call SetTimesteps before Step");
        if (timestep < 0 || timestep >= Config.NumTrainTimesteps)
            throw new UserInputException($"ddim: timestep {timestep} outside 0..{Config.NumTrainTimesteps - 1}");
        using var scope = NewDisposeScope();
        long prev = PrevTimestep(timestep);
        float aT = AlphasCumprod[timestep];
        float aPrev = AlphaProd(prev);
        float bT = 1f - aT;
        float sqrtA = MathF.Sqrt(aT), sqrtB = MathF.Sqrt(bT);
        Tensor x0, eps;
        switch (Config.PredictionType)
        {
            case "epsilon":
                x0 = (sample - modelOutput * sqrtB) / sqrtA;
                eps = modelOutput;
                break;
            case "sample":
                x0 = modelOutput.clone();
                eps = (sample - x0 * sqrtA) / sqrtB;
                break;
            default: // v_prediction
                x0 = sample * sqrtA - modelOutput * sqrtB;
                eps = modelOutput * sqrtA + sample * sqrtB;
                break;
        }
        if (Config.ClipSample) x0 = x0.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);
        float dirCoef = MathF.Sqrt(1f - aPrev);
        var prevSample = x0 * MathF.Sqrt(aPrev) + eps * dirCoef;
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), x0.MoveToOuterDisposeScope());
    }
}
