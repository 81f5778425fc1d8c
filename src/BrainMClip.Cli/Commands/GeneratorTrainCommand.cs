using System.CommandLine;
using System.Text.Json;
using BrainMClip.Generation.Training;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip generator train`: the embedded pixel-space generator (docs/generation.md).</summary>
public sealed class GeneratorTrainCommand : ICliCommand
{
    public string[] Path => ["generator", "train"];
    public string Description =>
        "Train the small pixel-space diffusion generator (the diffusers UNet class, 3 channels, no VAE) on stimulus " +
            "images " +
        "conditioned on their CLIP-Semantic tokens; writes a generator folder for 'reconstruct'.";

    public void Configure(Command command)
    {
        var images = new Option<string>("--images")
        { Description = "Stimulus images, .npy (N,H,W,3) uint8 (e.g. nsd_train_stim_sub1.npy).", Required = true };
        var features = new Option<string>("--features")
        {
            Description = "Features safetensors of the same images ('semantic' (N,T,P) tokens are the conditioning).",
            Required = true
        };
        var output = new Option<string>("--out")
        { Description = "Generator folder to write (unet/, scheduler/, generator.json).", Required = true };
        var steps = new Option<int>("--steps")
        {
            Description = "Optimisation steps (roughly 1 s each at the defaults on 2 idle cores; " +
            "--attention-resolution 8 is about a quarter cheaper).",
            DefaultValueFactory = _ => 300
        };
        var size = new Option<int>("--size")
        { Description = "Image size the generator works at: 32 or 64.", DefaultValueFactory = _ => 32 };
        size.AcceptOnlyFromAmong("32", "64");
        var seed = SharedOptions.Seed();
        var lr = new Option<double>("--lr")
        {
            Description = "Peak AdamW learning rate (warm-up, cosine decay to 10%).",
            DefaultValueFactory = _ => 1e-3
        };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 16 };
        var channels = new Option<string?>("--channels")
        {
            Description = "Block channels per level, comma-separated (default 32,64,64 at size 32; 32,64,64,64 at " +
            "64). Smaller trains faster."
        };
        var attention = new Option<int>("--attention-resolution")
        {
            Description =
                "Largest feature-map side with attention blocks: 16 (at 32 px: 16x16 and 8x8 levels) or 8 (only 8x8 " +
                "and the mid block; faster).",
            DefaultValueFactory = _ => 16,
        };
        var (prediction, contextMap) = ObjectiveOptions();
        foreach (var o in new Option[]
            { images, features, output, steps, size, seed, lr, batch, channels, attention, prediction, contextMap })
            command.Options.Add(o);
        command.SetAction(r =>
        {
            var result = PixelGeneratorTrainer.Train(new PixelGeneratorOptions
            {
                ImagesPath = r.GetValue(images)!,
                FeaturesPath = r.GetValue(features)!,
                OutDir = r.GetValue(output)!,
                Steps = r.GetValue(steps),
                Size = r.GetValue(size),
                Seed = r.GetValue(seed),
                LearningRate = r.GetValue(lr),
                BatchSize = r.GetValue(batch),
                Channels = ParseChannels(r.GetValue(channels)),
                AttentionResolution = r.GetValue(attention),
                Prediction = r.GetValue(prediction)!,
                ContextMap = r.GetValue(contextMap),
            });
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                generator = System.IO.Path.GetFullPath(result.OutDir),
                steps = result.Steps,
                final_loss = Math.Round(result.FinalLoss, 6),
                seconds = Math.Round(result.Seconds, 1),
                parameters = result.Parameters,
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
    }

    /// <summary>--prediction and --context-map (docs/generation.md).</summary>
    static (Option<string> Prediction, Option<bool> ContextMap) ObjectiveOptions()
    {
        var prediction = new Option<string>("--prediction")
        {
            Description = "What the UNet predicts: epsilon (noise), v_prediction or sample (the clean image); " +
                "recorded in scheduler/ so reconstruct samples accordingly.",
            DefaultValueFactory = _ => "epsilon",
        };
        prediction.AcceptOnlyFromAmong(PixelGeneratorTrainer.Predictions);
        var contextMap = new Option<bool>("--context-map")
        {
            Description = "Also add the patch tokens as a spatial map after conv_in (where each token's content is; " +
                "cross-attention alone has no positions).",
        };
        return (prediction, contextMap);
    }

    static int[]? ParseChannels(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out r[i])) throw new UserInputException(
                $"--channels {text}: expected comma-separated integers");
        return r;
    }
}
