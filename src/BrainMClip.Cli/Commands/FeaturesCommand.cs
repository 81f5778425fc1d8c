using System.CommandLine;
using BrainMClip.Features;
using TorchSharp;

namespace BrainMClip.Cli.Commands;

/// <summary><c>brainmclip features</c>: CLIP-Detail / CLIP-Semantic features of stimulus images
/// (docs/features.md).</summary>
public sealed class FeaturesCommand : StageCommand<FeatureExtractionOptions, FeatureExtractionResult>
{
    static readonly FeatureExtractionOptions D = Defaults.Of<FeatureExtractionOptions>();

    public override string[] Path => ["features"];
    public override string Description =>
        "Extract CLIP features (detail = mean of hidden layers a..b, semantic = VD image tokens, image_embeds) for " +
        "every stimulus image into a safetensors file. Batched, resumable, shardable for array jobs (merge with " +
        "merge-features).";

    readonly Option<string> clip = new Option<string>("--clip")
    {
        Description = "Hugging Face CLIP folder (config.json, model.safetensors, optional " +
        "preprocessor_config.json); clip_vision_model or full clip checkpoints.",
        Required = true
    };
    readonly Option<string> input = new Option<string>("--input")
    {
        Description = "Images: a folder (sorted by the number in the file name, else by name), an image file, " +
        "a stimulus .npy (N,H,W,3; uint8, or floats holding 0-255, rounded to 8 bit), an HDF5 file (N,3,H,W in " +
        "[0,1]; FILE.hdf5:DATASET or --dataset), or a .safetensors with normalised pixel_values.",
        Required = true
    };
    readonly Option<string?> dataset = new Option<string?>("--dataset")
    { Description = "HDF5 dataset name (default: images)." };
    readonly Option<string> output = new Option<string>("--out")
    { Description = "Output feature file (.safetensors), written atomically.", Required = true };
    readonly Option<string?> detail = new Option<string?>("--detail-layers")
    {
        Description = "Inclusive hidden-state range averaged into 'detail' (0 = pre_layrnorm output, k = block " +
        "k). Default 11-20 for 24-layer models, scaled proportionally for other depths."
    };
    readonly Option<string?> hidden = new Option<string?>("--hidden-states")
    {
        Description = "Also store hidden states as hidden_states.k: without a value all of them, or a list " +
        "like 0,12,24 or 4-8.",
        Arity = ArgumentArity.ZeroOrOne
    };
    readonly Option<int> batch = new Option<int>("--batch")
    {
        Description = "Images per forward pass. Sharded runs and their merge are byte-identical to one run " +
        "with the same --batch.",
        DefaultValueFactory = _ => D.Batch
    };
    readonly Option<string> shard = new Option<string>("--shard")
    {
        Description = "i/n: process only the i-th (0-based) of n contiguous blocks of rows, e.g. for a cluster " +
        "array job; merge the n files with merge-features.",
        DefaultValueFactory = _ => new Shard(D.ShardIndex, D.ShardCount).ToString()
    };
    readonly Option<string> device = SharedOptions.Device();
    readonly Option<string> dtype = new Option<string>("--dtype")
    {
        Description = "Storage type of the output tensors: float32 or float16 (half the disk).",
        DefaultValueFactory = _ => DTypeName(D.OutputDType)
    };
    readonly Option<bool> resume = new Option<bool>("--resume")
    {
        Description = "Continue an interrupted run (killed, Ctrl+C): reuse the finished batches in " +
        "OUT.partial/ (same settings required). Safe on a first run too, e.g. in array jobs that may be " +
        "restarted."
    };

    protected override Option[] Options =>
        [clip, input, dataset, output, detail, hidden, batch, shard, device, dtype, resume];

    protected override bool Cancellable => true; // Ctrl+C stops between batches; rerun with --resume

    public override IReadOnlyDictionary<string, string> FieldFlags { get; } = new Dictionary<string, string>
    {
        [nameof(FeatureExtractionOptions.OutputDType)] = "--dtype",
    };

    public override FeatureExtractionOptions Bind(ParseResult p, CancellationToken cancel)
    {
        var (si, sn) = Shard.Parse(p.GetValue(shard)!);
        string? hs = p.GetResult(hidden) is { Implicit: false } ? p.GetValue(hidden) ?? "all" : null;
        return new FeatureExtractionOptions
        {
            Checkpoint = p.GetValue(clip)!,
            Input = p.GetValue(input)!,
            Dataset = p.GetValue(dataset),
            Output = p.GetValue(output)!,
            DetailLayers = p.GetValue(detail),
            HiddenStates = hs,
            Batch = p.GetValue(batch),
            ShardIndex = si,
            ShardCount = sn,
            Device = TorchSetup.ParseDevice(p.GetValue(device)!),
            OutputDType = p.GetValue(dtype) switch
            {
                "float32" => torch.ScalarType.Float32,
                "float16" => torch.ScalarType.Float16,
                var s => throw new UserInputException($"--dtype {s}: expected float32 or float16"),
            },
            Resume = p.GetValue(resume),
            Cancellation = cancel,
        };
    }

    /// <summary>The --dtype word of a storage type.</summary>
    static string DTypeName(torch.ScalarType t) => t.ToString().ToLowerInvariant();

    public override FeatureExtractionResult Execute(FeatureExtractionOptions request) =>
        FeatureExtractor.Run(request);

    public override object Report(FeatureExtractionOptions request, FeatureExtractionResult result) => new
    {
        output = result.Output,
        samples = result.Samples,
        row_offset = result.RowOffset,
        total_samples = result.TotalSamples,
        detail_layers = $"{result.FirstDetailLayer}-{result.LastDetailLayer}",
        hidden_states = result.HiddenStates,
        tokens = result.Tokens,
        width = result.Width,
        projection_dim = result.ProjectionDim,
        batches_computed = result.BatchesComputed,
        batches_resumed = result.BatchesReused,
        seconds = Math.Round(result.Seconds, 2),
        images_per_second = result.Seconds > 0 ? Math.Round(result.Samples / result.Seconds, 2) : 0,
    };
}
