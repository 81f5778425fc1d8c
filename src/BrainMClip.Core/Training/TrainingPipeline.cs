using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// The library entry points behind <c>train</c>, <c>predict</c> and <c>ablate</c>: NSD-layout data (docs/data.md) →
/// detail/semantic voxel streams z-scored with training statistics (saved as RUN/zscore.safetensors, prefixes
/// "detail" and "semantic") → BrainMCLIP or ridge → predictions.
/// </summary>
public static class TrainingPipeline
{
    /// <summary>Z-scored streams of one split plus the statistics (fitted on train).</summary>
    public sealed record Streams(Tensor Detail, Tensor Semantic, ZScore DetailStats, ZScore SemanticStats) : IDisposable
    {
        public void Dispose() { Detail.Dispose(); Semantic.Dispose(); DetailStats.Dispose(); SemanticStats.Dispose(); }

        public void SaveStats(string path)
        {
            var all = new Dictionary<string, Tensor>(DetailStats.ToTensors("detail"));
            foreach (var (k, v) in SemanticStats.ToTensors("semantic")) all[k] = v;
            SafeTensors.Save(path, all, new Dictionary<string, string>
            {
                ["zscore"] = "mean and std (ddof=1) of the training split per voxel; std 0 replaced by 1",
            });
        }
    }

    /// <summary>Reads the train split's detail and semantic streams and z-scores them with their own
    /// statistics.</summary>
    public static Streams LoadTrainStreams(NsdSubject subject)
    {
        using var d = subject.LoadStream("train", VoxelStream.Detail);
        using var s = subject.LoadStream("train", VoxelStream.Semantic);
        var zd = ZScore.Fit(d); var zs = ZScore.Fit(s);
        return new Streams(zd.Apply(d), zs.Apply(s), zd, zs);
    }

    /// <summary>Trains a BrainMCLIP or ridge run on <paramref name="featuresPath"/> (train stimuli, train
    /// order).</summary>
    public static TrainResult Train(NsdSubject subject, string featuresPath, BrainMClipConfig cfg, string runDir,
        TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        // Cheap checks before the long work (loading the fMRI streams takes minutes on real data).
        UserInputException.RequireFile(featuresPath, "features file (CLIP features of the train stimuli)");
        AtomicFile.RequireWritable(Path.Combine(runDir, "config.json"), "run folder");
        using var features = FeatureStore.Open(featuresPath);
        using var streams = LoadTrainStreams(subject);
        if (features.Rows != subject.TrainSamples)
            throw new UserInputException(
                $"{featuresPath}: {features.Rows} feature rows but {subject.TrainSamples} training samples in " +
                $"{subject.FmriPath("train")}; extract features from {subject.StimuliPath("train")}");
        var data = new TrainingData(streams.Detail, streams.Semantic, features);
        options.Log?.WriteLine(
            $"training '{cfg.Name}' ({cfg.Kind}) on {subject.TrainSamples} samples: detail {streams.Detail.shape[1]} " +
            $"voxels, semantic {streams.Semantic.shape[1]} voxels; " +
                               $"targets {features.Tokens} tokens × {features.DetailWidth}/{features.SemanticWidth}; " +
                                   $"beta scaling {subject.BetaScale.Mode} (÷{subject.BetaScale.Divisor})");
        void Prepare(RunFolder run) => streams.SaveStats(run.ZScorePath);
        if (cfg.IsRidge) return RidgeBaseline.Train(cfg, data, runDir, options.Log, Prepare);
        return Trainer.Train(cfg, data, runDir, new TrainOptions
        {
            Resume = options.Resume,
            StopAfterEpoch = options.StopAfterEpoch,
            Log = options.Log,
            ProgressBar = options.ProgressBar,
            PrepareRun = Prepare,
        });
    }

    /// <summary>Z-scores a split's streams with the run's saved statistics.</summary>
    public static (Tensor detail, Tensor semantic) LoadNormalized(NsdSubject subject, string runDir, string split)
    {
        var run = new RunFolder(runDir);
        UserInputException.RequireFile(run.ZScorePath, "z-score statistics of the run (zscore.safetensors)");
        using var zd = ZScore.Load(run.ZScorePath, "detail");
        using var zs = ZScore.Load(run.ZScorePath, "semantic");
        using var d = subject.LoadStream(split, VoxelStream.Detail);
        using var s = subject.LoadStream(split, VoxelStream.Semantic);
        return (zd.Apply(d), zs.Apply(s));
    }

    /// <summary>Predicts a split with a trained run (neural or ridge) at fusion weight λ (default: the
    /// run's).</summary>
    public static Predictions Predict(string runDir, NsdSubject subject, string split, double? lambda = null,
        TextWriter? log = null)
    {
        using var predictor = Predictor.Open(runDir, log);
        var (d, s) = LoadNormalized(subject, runDir, split);
        using (d) using (s) return predictor.Predict(d, s, lambda);
    }

    /// <summary>What <see cref="PredictToFile"/> wrote: the file, its rows, and each tensor's key and shape.</summary>
    public sealed record PredictionFile(string Path, string Split, long Samples, string Model, double Lambda,
        IReadOnlyList<(string Key, long[] Shape)> Tensors);

    /// <summary>`predict`: <see cref="Predict"/> saved to <paramref name="outPath"/> with the run, split and subject
    /// in the metadata.</summary>
    public static PredictionFile PredictToFile(string runDir, NsdSubject subject, string split, double? lambda,
        string outPath, TextWriter? log = null)
    {
        using var pred = Predict(runDir, subject, split, lambda, log);
        pred.Save(outPath, new Dictionary<string, string>
        {
            ["run"] = System.IO.Path.GetFullPath(runDir),
            ["split"] = split,
            ["subject"] = subject.Subject.ToString(CultureInfo.InvariantCulture),
        });
        return new PredictionFile(outPath, split, pred.Fused!.shape[0], pred.Model, pred.Lambda,
            pred.Named().Select(n => (n.Key, n.Tensor.shape)).ToList());
    }

    /// <summary>Trains and scores every ablation variant plus ridge (see <see cref="AblationRunner"/>).</summary>
    public static JsonObject Ablate(NsdSubject subject, string featuresTrain, string featuresTest,
        BrainMClipConfig baseConfig, string outDir,
        IEnumerable<string>? variants = null, int loops = 30, int batch = 300, long seed = 42, TextWriter? log = null)
    {
        using var streams = LoadTrainStreams(subject);
        using var train = FeatureStore.Open(featuresTrain);
        using var test = FeatureStore.Open(featuresTest);
        if (train.Rows != subject.TrainSamples) throw new UserInputException(
            $"{featuresTrain}: {train.Rows} rows but {subject.TrainSamples} training samples");
        if (test.Rows != subject.TestSamples) throw new UserInputException(
            $"{featuresTest}: {test.Rows} rows but {subject.TestSamples} test samples");
        using var td = subject.LoadStream("test", VoxelStream.Detail);
        using var ts = subject.LoadStream("test", VoxelStream.Semantic);
        using var testD = streams.DetailStats.Apply(td);
        using var testS = streams.SemanticStats.Apply(ts);
        return AblationRunner.Run(baseConfig, new TrainingData(streams.Detail, streams.Semantic, train), testD, testS,
            test, outDir,
            variants, loops, batch, seed, log, dir => streams.SaveStats(new RunFolder(dir).ZScorePath));
    }
}
