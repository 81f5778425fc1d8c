using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.Generation.Models;
using BrainMClip.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Training;

/// <summary>
/// The pixel generator's part of the training loop: random batches of the training images with their context
/// (dropped, optionally corrupted), random timesteps and noise, all from the run's data generator; the denoising loss;
/// an EMA of the weights after every step. An "epoch" is <see cref="PixelGeneratorOptions.CheckpointEvery"/> steps,
/// the unit between checkpoints.
/// </summary>
sealed class PixelGeneratorTask : ITrainingTask
{
    readonly UNet2DConditionModel _unet, _ema;
    readonly List<Parameter> _trained, _averaged;
    readonly Tensor _images, _context, _alphas;
    readonly int _timesteps;
    readonly PixelGeneratorOptions _o;
    readonly Generator _data;
    readonly ContextNoise? _contextNoise;
    readonly double _emaDecay;

    /// <summary>Exponential moving average (0.98) of the step losses; NaN before the first step.</summary>
    public double LossAverage { get; private set; } = double.NaN;
    public required string Fingerprint { get; init; }
    public required TrainingLoop Loop { get; set; }

    public nn.Module Model => _unet;

    public PixelGeneratorTask(UNet2DConditionModel unet, UNet2DConditionModel ema, Tensor images, Tensor context,
        Tensor alphas, int timesteps, PixelGeneratorOptions o, Generator data, ContextNoise? contextNoise,
        double emaDecay)
    {
        _unet = unet; _ema = ema; _images = images; _context = context; _alphas = alphas; _timesteps = timesteps;
        _o = o; _data = data; _contextNoise = contextNoise; _emaDecay = emaDecay;
        // Parameter lists once: enumerating the module tree for the EMA on every step is avoidable work.
        _trained = unet.parameters().ToList();
        _averaged = ema.parameters().ToList();
    }

    public static int Epochs(PixelGeneratorOptions o) => (o.Steps + o.CheckpointEvery - 1) / o.CheckpointEvery;

    public long StepsIn(int epoch) => Math.Min(_o.CheckpointEvery, _o.Steps - (long)epoch * _o.CheckpointEvery);

    public void BeginEpoch(int epoch) => _unet.train();

    public StepLoss Loss(int epoch, long index)
    {
        if (_o.ThreadsFrom is { } widen && Loop.Step >= widen.Step && get_num_threads() != widen.Threads)
            set_num_threads(widen.Threads);
        var loss = PixelGeneratorTrainer.DenoisingLoss(_unet, _images, _context, _alphas, _timesteps, _o, _data,
            _contextNoise);
        return new StepLoss(loss, [("loss", loss)]);
    }

    public void AfterStep(long step, IReadOnlyDictionary<string, double> terms)
    {
        double d = Math.Min(_emaDecay, (1.0 + step) / (10.0 + step));
        using (no_grad())
            for (int i = 0; i < _trained.Count; i++) _averaged[i].mul_(d).add_(_trained[i], alpha: 1 - d);
        double l = terms["loss"];
        LossAverage = double.IsNaN(LossAverage) ? l : 0.98 * LossAverage + 0.02 * l;
    }

    public string Progress(IReadOnlyDictionary<string, double> step, EpochStats epoch) => $"loss {LossAverage:0.0000}";

    public EpochEnd EndEpoch(int epoch, EpochStats stats) => new(new JsonObject
    {
        ["step"] = Loop.Step,
        ["lr"] = Loop.LastLr,
        ["loss"] = stats.Mean("loss"),
        ["loss_ema"] = LossAverage,
        ["grad_norm"] = stats.GradNormSum / Math.Max(1, stats.Steps),
        ["seconds"] = stats.Seconds,
    });

    public void SaveState(Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata)
    {
        foreach (var (k, v) in _ema.state_dict()) tensors[EmaPrefix + k] = v.detach().clone();
        metadata["loss_ema"] = LossAverage.ToString("R", CultureInfo.InvariantCulture);
        metadata["options"] = Fingerprint;
    }

    public void RestoreState(Checkpoint checkpoint)
    {
        Checkpoint.LoadModule(_ema, checkpoint, EmaPrefix, "checkpoint");
        LossAverage = double.Parse(checkpoint.Metadata["loss_ema"], CultureInfo.InvariantCulture);
    }

    const string EmaPrefix = "ema.";
}
