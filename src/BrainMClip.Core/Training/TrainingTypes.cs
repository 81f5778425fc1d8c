using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>Training inputs: z-scored voxel matrices (rows aligned with the feature rows) and the CLIP
/// targets.</summary>
public sealed record TrainingData(Tensor Detail, Tensor Semantic, FeatureStore Features)
{
    public long Samples => Detail.shape[0];

    public void Validate()
    {
        if (Detail.dim() != 2 || Semantic.dim() != 2)
            throw new UserInputException(
                $"fMRI matrices must be (samples, voxels); got [{string.Join(",", Detail.shape)}] and " +
                $"[{string.Join(",", Semantic.shape)}]");
        if (Detail.shape[0] != Semantic.shape[0] || Detail.shape[0] != Features.Rows)
            throw new UserInputException(
                $"{Features.Source}: features hold {Features.Rows} rows but the training split has " +
                $"{Detail.shape[0]} samples (detail) / {Semantic.shape[0]} (semantic); the features file must be " +
                "computed on the train stimuli in order");
    }

    /// <summary>The configuration with the token count and widths of these features (written to config.json).</summary>
    public BrainMClipConfig Configure(BrainMClipConfig cfg) => cfg with
    {
        Model = cfg.Model with
        {
            Tokens = Features.Tokens,
            DetailWidth = Features.DetailWidth,
            SemanticWidth = Features.SemanticWidth,
        },
    };
}

public sealed class TrainOptions
{
    /// <summary>Where the network, its optimiser state and each batch live (null = the CPU); the data, the run's
    /// generators and the checkpoints stay on the CPU.</summary>
    public Device? Device { get; init; }
    /// <summary>Continue from the run folder's last good checkpoint.</summary>
    public bool Resume { get; init; }
    /// <summary>Stop after this many completed epochs (as if interrupted); the run can be resumed later.</summary>
    public int? StopAfterEpoch { get; init; }
    /// <summary>Progress and messages (stderr by default); null for silence.</summary>
    public TextWriter? Log { get; init; } = Console.Error;
    public bool ProgressBar { get; init; } = true;
    /// <summary>Called under the run-folder lock before training starts (e.g. to save normalisation
    /// statistics).</summary>
    public Action<RunFolder>? PrepareRun { get; init; }
}

public sealed record TrainResult(int EpochsCompleted, long Steps, double BestValidationCosine, int BestEpoch,
    string RunDir, bool Interrupted, IReadOnlyList<JsonObject> Metrics);
