using System.Text.Json.Nodes;
using BrainMClip.Generation.Models;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Schedulers;

/// <summary>
/// The training-noise schedule and sampling options shared by the schedulers, read from a diffusers
/// <c>scheduler_config.json</c> (DDIMScheduler, DPMSolverMultistepScheduler, PNDMScheduler … all carry these fields).
/// </summary>
public sealed record SchedulerConfig
{
    public int NumTrainTimesteps { get; init; } = 1000;
    public double BetaStart { get; init; } = 0.00085;
    public double BetaEnd { get; init; } = 0.012;
    public string BetaSchedule { get; init; } = "scaled_linear";
    public float[]? TrainedBetas { get; init; }
    public bool SetAlphaToOne { get; init; }
    public int StepsOffset { get; init; } = 1;
    public string PredictionType { get; init; } = "epsilon";
    public string TimestepSpacing { get; init; } = "leading";
    public bool ClipSample { get; init; }
    public double ClipSampleRange { get; init; } = 1.0;
    /// <summary>DPM-Solver: sigma of the last step, "zero" (current diffusers default) or "sigma_min".</summary>
    public string FinalSigmasType { get; init; } = "zero";

    public static readonly string[] Spacings = ["leading", "trailing", "linspace"];
    public static readonly string[] Predictions = ["epsilon", "v_prediction", "sample"];

    public static SchedulerConfig Load(string path)
    {
        var r = ConfigReader.Load(path);
        r.RequireNullOr("thresholding", "false");
        r.RequireNullOr("rescale_betas_zero_snr", "false");
        r.RequireNullOr("use_karras_sigmas", "false");
        r.RequireNullOr("use_lu_lambdas", "false");
        r.RequireNullOr("timestep_type", "discrete");
        string schedule = r.String("beta_schedule", "linear")!;
        if (schedule is not ("linear" or "scaled_linear" or "squaredcos_cap_v2"))
            throw r.Error("beta_schedule",
                $"= \"{schedule}\" is not supported (supported: linear, scaled_linear, squaredcos_cap_v2)");
        string spacing = r.String("timestep_spacing", "leading")!;
        if (!Spacings.Contains(spacing)) throw r.Error("timestep_spacing",
            $"= \"{spacing}\" is not supported (supported: {string.Join(", ", Spacings)})");
        string prediction = r.String("prediction_type", "epsilon")!;
        if (!Predictions.Contains(prediction)) throw r.Error("prediction_type",
            $"= \"{prediction}\" is not supported (supported: {string.Join(", ", Predictions)})");
        string finalSigmas = r.String("final_sigmas_type", "zero")!;
        if (finalSigmas is not ("zero" or "sigma_min")) throw r.Error("final_sigmas_type",
            $"= \"{finalSigmas}\" is not supported (supported: zero, sigma_min)");
        float[]? trained = null;
        if (r.Has("trained_betas"))
        {
            trained = r.Doubles("trained_betas").Select(d => (float)d).ToArray();
        }
        var cfg = new SchedulerConfig
        {
            NumTrainTimesteps = r.Int("num_train_timesteps", 1000),
            BetaStart = r.Double("beta_start", 0.0001),
            BetaEnd = r.Double("beta_end", 0.02),
            BetaSchedule = schedule,
            TrainedBetas = trained,
            SetAlphaToOne = r.Bool("set_alpha_to_one", true),
            StepsOffset = r.Int("steps_offset", 0),
            PredictionType = prediction,
            TimestepSpacing = spacing,
            ClipSample = r.Bool("clip_sample", true),
            ClipSampleRange = r.Double("clip_sample_range", 1.0),
            FinalSigmasType = finalSigmas,
        };
        // Upper bound: the schedule arrays have one entry per training step (diffusers models use 1000).
        if (cfg.NumTrainTimesteps is < 2 or > 100_000) throw r.Error("num_train_timesteps",
            $"= {cfg.NumTrainTimesteps} must be between 2 and 100000");
        if (trained != null && trained.Length != cfg.NumTrainTimesteps)
            throw r.Error("trained_betas",
                $"has {trained.Length} entries but num_train_timesteps is {cfg.NumTrainTimesteps}");
        return cfg;
    }

    /// <summary>The betas, in float32 exactly as diffusers computes them (torch.linspace in float32, then
    /// squared).</summary>
    public Tensor Betas()
    {
        if (TrainedBetas != null) return tensor(TrainedBetas);
        int n = NumTrainTimesteps;
        return BetaSchedule switch
        {
            "linear" => tensor(TorchLinspace((float)BetaStart, (float)BetaEnd, n)),
            "scaled_linear" =>
                tensor(TorchLinspace((float)Math.Sqrt(BetaStart), (float)Math.Sqrt(BetaEnd), n).Select(b => b * b)
                .ToArray()),
            _ => tensor(CosineBetas(n)),
        };
    }

    /// <summary>
    /// torch.linspace(start, end, n, dtype=float32) as the PyTorch CPU kernel computes it (AVX2 build, the one the
    /// reference betas come from): blocks of 8 from a fused-multiply-add base, then base + j·step; the second half
    /// counts back from the end. libtorch 2.10's own linspace differs by 1 ulp in places, which would move
    /// alphas_cumprod.
    /// </summary>
    internal static float[] TorchLinspace(float start, float end, int n)
    {
        if (n == 1) return [start];
        float step = (end - start) / (n - 1);
        int half = n / 2, idx = 0;
        var r = new float[n];
        for (; idx + 8 <= n; idx += 8)
        {
            float b = idx < half ? MathF.FusedMultiplyAdd(step, idx, start) : MathF.FusedMultiplyAdd(-step, n - idx - 1,
                end);
            for (int j = 0; j < 8; j++) r[idx + j] = b + j * step;
        }
        for (; idx < n; idx++) r[idx] = idx < half ? start + step * idx : end - step * (n - idx - 1);
        return r;
    }

    /// <summary>diffusers betas_for_alpha_bar (cosine): computed in float64, stored as float32.</summary>
    static float[] CosineBetas(int n)
    {
        static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        var betas = new float[n];
        for (int i = 0; i < n; i++)
        {
            double t1 = (double)i / n, t2 = (double)(i + 1) / n;
            betas[i] = (float)Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), 0.999);
        }
        return betas;
    }

    /// <summary>cumprod(1 − betas) in float32.</summary>
    public float[] AlphasCumprod()
    {
        using var scope = NewDisposeScope();
        var betas = Betas();
        var ac = (1.0f - betas).cumprod(0, ScalarType.Float32);
        return ac.data<float>().ToArray();
    }

    /// <summary>A DDIM config as written for our own generators: the SD-1.x / VD schedule.</summary>
    public static SchedulerConfig StableDiffusion => new()
    {
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "scaled_linear",
        SetAlphaToOne = false,
        StepsOffset = 1,
        PredictionType = "epsilon",
        TimestepSpacing = "leading",
        ClipSample = false,
    };

    /// <summary>The diffusers <c>scheduler_config.json</c> text (DDIMScheduler).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["_class_name"] = "DDIMScheduler",
            ["_diffusers_version"] = "0.25.1",
            ["beta_end"] = BetaEnd,
            ["beta_schedule"] = BetaSchedule,
            ["beta_start"] = BetaStart,
            ["clip_sample"] = ClipSample,
            ["clip_sample_range"] = ClipSampleRange,
            ["num_train_timesteps"] = NumTrainTimesteps,
            ["prediction_type"] = PredictionType,
            ["rescale_betas_zero_snr"] = false,
            ["set_alpha_to_one"] = SetAlphaToOne,
            ["steps_offset"] = StepsOffset,
            ["thresholding"] = false,
            ["timestep_spacing"] = TimestepSpacing,
            ["trained_betas"] = TrainedBetas == null ? null : new JsonArray(
                TrainedBetas.Select(b => (JsonNode)(double)b).ToArray()),
        };
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
