using System.CommandLine;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip train`: trains BrainMCLIP (or the ridge baseline) into a run folder (docs/model.md).</summary>
public sealed class TrainCommand : StageCommand<TrainCommand.Request, TrainResult>
{
    /// <summary>A training run: the resolved configuration (with --epochs/--seed applied) and where it goes.</summary>
    public sealed record Request(string Data, int Subject, string BetaScale, string Features, BrainMClipConfig Config,
        string Out, bool Resume);

    public override string[] Path => ["train"];
    public override string Description =>
        "Train BrainMCLIP (or the ridge baseline) on one subject: z-scored detail/semantic voxel streams → " +
            "CLIP-Detail and " +
        "CLIP-Semantic tokens. Writes RUN/config.json, zscore.safetensors, checkpoints/{last,prev,best}.ckpt, " +
            "metrics.jsonl " +
        "and training_curve.png; --resume continues bit-for-bit.";

    readonly Option<string> data = new Option<string>("--data")
    { Description = "Data root in the Brain-Diffuser layout (processed_data/, nsddata/).", Required = true };
    readonly Option<int> subject = new Option<int>("--subject")
    { Description = "Subject number (1-based; folder subj0N).", DefaultValueFactory = _ => NsdSubject.DefaultSubject };
    readonly Option<string> features = new Option<string>("--features")
    {
        Description = "CLIP features of the TRAIN stimuli in train order ('detail', 'semantic'; from " +
        "'brainmclip features').",
        Required = true
    };
    readonly Option<string> config = new Option<string>("--config")
    {
        Description = "tiny (demo widths), tiny-recon (tiny with its detail stream trained for reconstruction, the " +
        "demo's network; docs/evidence.md § 6), paper (ViT-L/14 widths; layer sizes, loss weights and schedule are " +
        "our choices, see docs/fidelity.md), ridge (closed-form baseline) or a config .json (may start with " +
        "\"base\": \"tiny\").",
        DefaultValueFactory = _ => "tiny"
    };
    readonly Option<string> output = new Option<string>("--out")
    { Description = "Run folder to create (or to continue with --resume).", Required = true };
    readonly Option<int?> epochs = new Option<int?>("--epochs")
    { Description = "Override training.epochs of the config." };
    readonly Option<long?> seed = SharedOptions.SeedOverride();
    readonly Option<bool> resume = new Option<bool>("--resume")
    { Description = "Continue the run in --out from its last good checkpoint (same config, epochs and seed)." };
    readonly Option<string> device = SharedOptions.Device();
    readonly Option<string> beta = SharedOptions.BetaScale();
    readonly Option<int?> threads = SharedOptions.Threads();

    protected override Option[] Options =>
        [data, subject, features, config, output, epochs, seed, resume, device, beta, threads];

    public override Request Bind(ParseResult parse, CancellationToken cancel)
    {
        SharedOptions.ApplyThreads(parse.GetValue(threads));
        if (!TorchSetup.ParseDevice(parse.GetValue(device)!).type.Equals(TorchSharp.DeviceType.CPU))
            throw new UserInputException("--device: training runs on cpu in this build");
        var cfg = BrainMClipConfig.Resolve(parse.GetValue(config)!);
        if (parse.GetValue(epochs) is { } e) cfg = cfg with { Training = cfg.Training with { Epochs = e } };
        if (parse.GetValue(seed) is { } s) cfg = cfg with { Training = cfg.Training with { Seed = s } };
        cfg.Validate("--epochs/--seed");
        return new Request(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!,
            parse.GetValue(features)!, cfg, parse.GetValue(output)!, parse.GetValue(resume));
    }

    /// <summary>Trains; a diverged run ends as a TrainingDivergedException (exit 1 with its message).</summary>
    public override TrainResult Execute(Request r) =>
        TrainingPipeline.Train(NsdSubject.Open(r.Data, r.Subject, r.BetaScale), r.Features, r.Config, r.Out,
            new TrainOptions { Resume = r.Resume, Log = Console.Error });

    public override object Report(Request request, TrainResult r) => new JsonObject
    {
        ["run"] = System.IO.Path.GetFullPath(request.Out),
        ["kind"] = request.Config.Kind,
        ["config"] = request.Config.Name,
        // The identity of what was trained: SHA-256 of RUN/config.json without its final newline (BrainMClipConfig
        // .Sha256 of the resolved configuration, widths taken from the features), as the preregistration quotes it.
        ["config_sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(new RunFolder(request.Out).ConfigPath).TrimEnd('\n')))),
        ["epochs_completed"] = r.EpochsCompleted,
        ["steps"] = r.Steps,
        ["best_epoch"] = r.BestEpoch,
        ["best_val_cosine"] = double.IsFinite(r.BestValidationCosine) ? r.BestValidationCosine : null,
        ["last"] = (r.Metrics.Count > 0 ? r.Metrics[^1] : null)?.DeepClone(),
    };
}
