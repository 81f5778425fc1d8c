using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Model;
using BrainMClip.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip train`: trains BrainMCLIP (or the ridge baseline) into a run folder (docs/model.md).</summary>
public sealed class TrainCommand : ICliCommand
{
    public string[] Path => ["train"];
    public string Description =>
        "Train BrainMCLIP (or the ridge baseline) on one subject: z-scored detail/semantic voxel streams → " +
            "CLIP-Detail and " +
        "CLIP-Semantic tokens. Writes RUN/config.json, zscore.safetensors, checkpoints/{last,prev,best}.ckpt, " +
            "metrics.jsonl " +
        "and training_curve.png; --resume continues bit-for-bit.";

    public void Configure(Command command)
    {
        var data = new Option<string>("--data")
        { Description = "Data root in the Brain-Diffuser layout (processed_data/, nsddata/).", Required = true };
        var subject = new Option<int>("--subject")
        { Description = "Subject number (1-based; folder subj0N).", DefaultValueFactory = _ => 1 };
        var features = new Option<string>("--features")
        {
            Description = "CLIP features of the TRAIN stimuli in train order ('detail', 'semantic'; from " +
            "'brainmclip features').",
            Required = true
        };
        var config = new Option<string>("--config")
        {
            Description = "tiny (demo widths), paper (ViT-L/14 widths; layer sizes, loss weights and schedule are " +
            "our choices, see docs/fidelity.md), ridge (closed-form baseline) or a config .json (may start with " +
            "\"base\": \"tiny\").",
            DefaultValueFactory = _ => "tiny"
        };
        var output = new Option<string>("--out")
        { Description = "Run folder to create (or to continue with --resume).", Required = true };
        var epochs = new Option<int?>("--epochs") { Description = "Override training.epochs of the config." };
        var seed = SharedOptions.SeedOverride();
        var resume = new Option<bool>("--resume")
        { Description = "Continue the run in --out from its last good checkpoint (same config, epochs and seed)." };
        var device = SharedOptions.Device();
        var beta = SharedOptions.BetaScale();
        var threads = SharedOptions.Threads();
        foreach (var o in new Option[]
            { data, subject, features, config, output, epochs, seed, resume, device, beta, threads })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            SharedOptions.ApplyThreads(parse.GetValue(threads));
            if (!TorchSetup.ParseDevice(parse.GetValue(device)!).type.Equals(TorchSharp.DeviceType.CPU))
                throw new UserInputException("--device: training runs on cpu in this build");
            var cfg = BrainMClipConfig.Resolve(parse.GetValue(config)!);
            if (parse.GetValue(epochs) is { } e) cfg = cfg with { Training = cfg.Training with { Epochs = e } };
            if (parse.GetValue(seed) is { } s) cfg = cfg with { Training = cfg.Training with { Seed = s } };
            cfg.Validate("--epochs/--seed");
            var subj = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            string run = parse.GetValue(output)!;
            TrainResult r;
            try
            {
                r = TrainingPipeline.Train(subj, parse.GetValue(features)!, cfg, run,
                    new TrainOptions { Resume = parse.GetValue(resume), Log = Console.Error });
            }
            catch (TrainingDivergedException ex)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return ExitCodes.Internal;
            }
            var last = r.Metrics.Count > 0 ? r.Metrics[^1] : null;
            var report = new JsonObject
            {
                ["run"] = System.IO.Path.GetFullPath(run),
                ["kind"] = cfg.Kind,
                ["config"] = cfg.Name,
                ["epochs_completed"] = r.EpochsCompleted,
                ["steps"] = r.Steps,
                ["best_epoch"] = r.BestEpoch,
                ["best_val_cosine"] = double.IsFinite(r.BestValidationCosine) ? r.BestValidationCosine : null,
                ["last"] = last?.DeepClone(),
            };
            Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }
}
