using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.Optimization;
using static TorchSharp.torch;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>
/// clip-train's part of the training loop: fresh scenes every epoch (the next epoch's rendered on other threads while
/// this one trains), the epoch's batch order and low-resolution views from generators seeded by the run seed and the
/// epoch, and the objective of <see cref="ClipTrainingNet.Loss"/>.
/// </summary>
sealed class ClipTrainingTask : ITrainingTask, IDisposable
{
    readonly ClipTrainingNet _net;
    readonly ClipTrainOptions _o;
    readonly ClipVisionConfig _cfg;
    readonly IClipSceneSource _source;
    readonly ClipImageProcessor _processor;
    readonly Generator _order, _views;
    readonly TextWriter? _log;
    Task<ClipSceneSet>? _next;
    ClipSceneSet? _set;
    Tensor? _perm;
    JsonObject? _gradNorms;

    /// <summary>The probe of the untrained network (travels in the checkpoints).</summary>
    public JsonObject? InitProbe { get; set; }
    public required string Fingerprint { get; init; }
    public required TrainingLoop Loop { get; set; }
    /// <summary>Epochs this call runs (scenes are prefetched only for these).</summary>
    public int StopAt { get; set; }

    public nn.Module Model => _net;

    public ClipTrainingTask(ClipTrainingNet net, ClipTrainOptions o, ClipVisionConfig cfg, IClipSceneSource source,
        RunGenerators generators, TextWriter? log)
    {
        _net = net; _o = o; _cfg = cfg; _source = source; _log = log;
        _processor = ClipImageProcessor.ForSize(cfg.ImageSize);
        // Re-seeded every epoch from (seed, epoch): an epoch's draws do not depend on how the run got there.
        _order = generators.Add("order", 0);
        _views = generators.Add("views", 0);
    }

    public long StepsIn(int epoch) => _o.Images / _o.BatchSize;

    Task<ClipSceneSet> Prefetch(int epoch) => Task.Run(() => ClipSceneSet.Render(_source,
        ClipTrainer.EpochFirstIndex(epoch, _o), _o.Images, _cfg.ImageSize, _cfg.PatchSize,
        epoch < _o.CurriculumEpochs));

    public void BeginEpoch(int epoch)
    {
        _net.train();
        _set?.Dispose();
        _set = (_next ?? Prefetch(epoch)).Result;
        // The next epoch's scenes render on other threads while this one trains (torch keeps ~1 core busy).
        _next = epoch + 1 < StopAt ? Prefetch(epoch + 1) : null;
        ulong seed = (ulong)_o.Seed * 1_000_003UL + (ulong)epoch;
        _order.manual_seed(unchecked((long)(seed + 101)));
        _views.manual_seed(unchecked((long)(seed + 500_009)));
        _perm?.Dispose();
        _perm = randperm(_set.Count, generator: _order).DetachFromDisposeScope();
    }

    public StepLoss Loss(int epoch, long index)
    {
        var idx = _perm!.narrow(0, index * _o.BatchSize, _o.BatchSize);
        var batchImages = LowResolution.Augment(_set!.Images.index_select(0, idx), _o.LowResFraction,
            _o.LowResSides.Min, _o.LowResSides.Max, _views);
        var px = ClipTrainingProbe.Pixels(batchImages, _processor);
        var terms = _net.Loss(px, _set.Captions.index_select(0, idx), _set.Families.index_select(0, idx),
            _set.Coverage?.index_select(0, idx), _o.Weights);
        return new StepLoss(terms.Total, [("total", terms.Total), ("pooled", terms.Pooled), ("tokens", terms.Tokens),
            ("presence", terms.Presence), ("local", terms.Local), ("parts", terms.Parts)]);
    }

    public void AfterBackward(int epoch, long index)
    {
        if (index == StepsIn(epoch) - 1) _gradNorms = GradNorms(_net);
    }

    public string Progress(IReadOnlyDictionary<string, double> step, EpochStats e) =>
        $"epoch {Loop.Epoch + 1} nce {e.Mean("pooled"):0.000}/{e.Mean("tokens"):0.000} " +
        $"pres {e.Mean("presence"):0.000} parts {e.Mean("parts"):0.000}";

    public EpochEnd EndEpoch(int epoch, EpochStats stats)
    {
        _net.eval();
        var row = new JsonObject
        {
            ["epoch"] = epoch + 1,
            ["steps"] = stats.Steps,
            ["lr_end"] = Loop.LastLr,
            ["contrastive_pooled_loss"] = Math.Round(stats.Mean("pooled"), 4),
            ["contrastive_token_loss"] = Math.Round(stats.Mean("tokens"), 4),
            ["presence_loss"] = Math.Round(stats.Mean("presence"), 4),
            ["local_mse"] = Math.Round(stats.Mean("local"), 4),
            ["patch_family_loss"] = Math.Round(stats.Mean("parts"), 4),
            ["logit_scale"] = Math.Round(_net.LogitScale, 3),
            ["grad_norm"] = Math.Round(stats.GradNormSum / stats.Steps, 4),
            ["grad_norms_last_step"] = _gradNorms,
            ["scenes"] = epoch < _o.CurriculumEpochs ? "one-object" : "mixed 1-3 objects",
        };
        _gradNorms = null;
        _log?.WriteLine($"clip-train: {row.ToJsonString()}");
        return new EpochEnd(row);
    }

    public void SaveState(Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata)
    {
        metadata["options"] = Fingerprint;
        metadata["init_probe"] = InitProbe?.ToJsonString() ?? "null";
    }

    public void RestoreState(Checkpoint checkpoint) =>
        InitProbe = JsonNode.Parse(checkpoint.Metadata["init_probe"]) as JsonObject;

    /// <summary>
    /// Gradient norm per part (embeddings, each block, heads) before clipping: shows whether the early layers learn.
    /// </summary>
    static JsonObject GradNorms(ClipTrainingNet net)
    {
        using var scope = NewDisposeScope();
        var sums = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, p) in net.named_parameters())
        {
            if (p.grad is not { } g) continue;
            var parts = name.Split('.');
            string key = name.Contains(".layers.", StringComparison.Ordinal)
                ? "block" + parts[Array.IndexOf(parts, "layers") + 1].PadLeft(2, '0')
                : name.StartsWith("clip.", StringComparison.Ordinal) ? parts[^2] : parts[0];
            double sq = g.pow(2).sum().item<float>();
            sums[key] = sums.GetValueOrDefault(key) + sq;
        }
        var row = new JsonObject();
        foreach (var (k, v) in sums) row[k] = Math.Round(Math.Sqrt(v), 5);
        return row;
    }

    public void Dispose()
    {
        if (_next is not null) _next.Result.Dispose();
        _next = null;
        _set?.Dispose();
        _perm?.Dispose();
    }
}
