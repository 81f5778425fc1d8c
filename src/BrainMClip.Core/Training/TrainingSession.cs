using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>
/// The brain trainer's part of a run (<see cref="Trainer.Train"/> calls it in order): the network, its data and loss,
/// validation and the best epoch; <see cref="TrainingLoop"/> does the optimisation, checkpoints and metrics. Every
/// random draw comes from a generator of this run (initialisation, dropout, batch order), never from the process-wide
/// RNG, so runs are reproducible and resumable bit-for-bit.
/// </summary>
sealed class TrainingSession : ITrainingTask, IDisposable
{
    const long OutOfFoldLimitBytes = 2_000_000_000;

    readonly BrainMClipConfig _cfg;
    readonly TrainingSection _t;
    readonly TrainingData _data;
    readonly TrainSplit _split;
    readonly RunFolder _run;
    readonly TextWriter? _log;
    readonly bool _progressBar;
    readonly BrainMClipNet _net;
    readonly RunGenerators _generators = new();
    readonly Generator _dropoutGen;
    readonly Generator _shuffleGen;
    Tensor? _oofD, _oofS;
    Tensor? _linearCosines;   // validation cosines of the linear path alone (epoch 0), when it competes
    TrainingLoop? _loop;
    LrSchedule? _schedule;
    Tensor? _order;           // this epoch's training rows in batch order
    MixupBatch? _mix;         // this step's BiMixCo partners, kept until backward
    double _bestVal = double.NegativeInfinity;
    int _bestEpoch = -1;
    string _epochSummary = "";

    public TrainingLoop Loop => _loop ?? throw new InvalidOperationException("BuildLoop was not called");
    public nn.Module Model => _net;

    public TrainingSession(BrainMClipConfig cfg, TrainingData data, TrainSplit split, RunFolder run, TextWriter? log,
        bool progressBar)
    {
        _cfg = cfg; _t = cfg.Training; _data = data; _split = split; _run = run; _log = log;
        _progressBar = progressBar;
        _net = new BrainMClipNet(cfg, (int)data.Detail.shape[1], (int)data.Semantic.shape[1]);
        // Generator seeds: initialisation seed, shuffle seed+1, dropout seed+2, validation split seed+7919.
        _dropoutGen = _generators.Add("dropout", (ulong)_t.Seed + 2);
        _shuffleGen = _generators.Add("shuffle", (ulong)_t.Seed + 1);
    }

    /// <summary>Seeded initialisation, the ridge_skip maps (and out-of-fold tables), the output bias at the
    /// mean.</summary>
    public void InitializeNetwork(bool resuming)
    {
        using (var initGen = new Generator((ulong)_t.Seed)) _net.Initialize(initGen);
        using (var _ = NewDisposeScope())
        {
            var meanD = MeanRows(_data.Features.Detail, _split.TrainRows);
            var meanS = MeanRows(_data.Features.Semantic, _split.TrainRows);
            // model.ridge_skip: the closed-form linear path, fitted on every training row exactly as the ridge baseline
            // is (the validation part included: its 10 % of the samples measurably help the linear map); a resumed run
            // takes the map from the checkpoint. The map already predicts the mean, so the learned head starts at zero
            // output instead. With ridge_skip_out_of_fold, training and validation see each row's out-of-fold linear
            // prediction instead (stacking), so the residual corrects the map's errors on unseen rows and the
            // validation score is honest; the fit is deterministic, so a resumed run recomputes the same table.
            foreach (var (stream, encoder) in _net.RidgeSkipEncoders())
            {
                bool detail = stream == "detail";
                if (detail) meanD = zeros_like(meanD); else meanS = zeros_like(meanS);
                // A resumed run has the map in its checkpoint; it refits only for the out-of-fold table (alpha).
                if (resuming && !_cfg.Model.RidgeSkipOutOfFold) continue;
                FitRidgeSkip(stream, encoder, resuming);
            }
            _net.InitializeOutputBias(meanD, meanS);
        }
        _net.DropoutGenerator = _dropoutGen;
    }

    void FitRidgeSkip(string stream, StreamEncoder encoder, bool resuming)
    {
        bool detail = stream == "detail";
        var x = detail ? _data.Detail : _data.Semantic;
        var y = (detail ? _data.Features.AllDetail() : _data.Features.AllSemantic()).flatten(1);
        var map = Ridge.Fit(x, y, _cfg.Ridge.Alphas, _cfg.Ridge.Folds, _t.Seed, _log, $"{stream} (ridge_skip)");
        if (!resuming) encoder.SetRidgeSkip(map.Weight, map.Bias);
        if (!_cfg.Model.RidgeSkipOutOfFold) return;
        if (y.numel() * sizeof(float) > OutOfFoldLimitBytes)
        {
            _log?.WriteLine(
                $"ridge_skip {stream}: the out-of-fold table ({y.numel() * sizeof(float) / 1e9:0.0} GB) exceeds " +
                $"{OutOfFoldLimitBytes / 1e9:0} GB; training against the all-rows map");
            return;
        }
        var oof = Ridge.OutOfFold(x, y, map.Alpha, _cfg.Ridge.Folds, _t.Seed).DetachFromDisposeScope();
        if (detail) _oofD = oof; else _oofS = oof;
    }

    /// <summary>The loop: AdamW with two decay groups (<see cref="Trainer.ParameterGroups"/>), OneCycle, the
    /// gradient-clipping groups, the run folder's checkpoints and metrics.jsonl.</summary>
    public void BuildLoop()
    {
        var (decay, noDecay) = Trainer.ParameterGroups(_net);
        // Gradient-clipping groups: the rest jointly, or per stream (encoder + decoder) with training.clip_per_stream;
        // the fusion map always alone (its loss must not rescale the encoders' step).
        var clipGroups = _net.named_parameters().Where(p => !p.name.StartsWith("fusion.", StringComparison.Ordinal))
            .GroupBy(p => _t.ClipPerStream ? StreamOf(p.name) : "all")
            .Select(g => (IReadOnlyList<Parameter>)g.Select(p => p.parameter).ToList()).ToList();
        var fusion = _net.FusionParameters().ToList();
        if (fusion.Count > 0) clipGroups.Add(fusion);
        _schedule = new OneCycleSchedule(_t.MaxLr, _split.StepsPerEpoch * _t.Epochs, _cfg.PctStart, _t.FinalDivFactor);
        _loop = new TrainingLoop(this, _t.Epochs, new OptimizationSettings
        {
            Groups = [(decay, _t.WeightDecay), (noDecay, 0.0)],
            MaxLr = _t.MaxLr,
            Schedule = _schedule,
            ClipGroups = clipGroups,
            MaxGradNorm = _t.GradClip,
        }, new LoopFiles
        {
            LastCheckpoint = _run.LastCheckpoint,
            PreviousCheckpoint = _run.PreviousCheckpoint,
            BestCheckpoint = _run.BestCheckpoint,
            MetricsPath = _run.MetricsPath,
        }, _generators)
        { ProgressLabel = _progressBar ? "train" : null, Log = _log };
    }

    static string StreamOf(string parameter) =>
        parameter.EndsWith("_detail", StringComparison.Ordinal)
            || parameter.Contains("_detail.", StringComparison.Ordinal)
            ? "detail" : "semantic";

    /// <summary>The loop's state and the best score from a checkpoint (which is disposed).</summary>
    public void Restore(Checkpoint resumeFrom)
    {
        using (resumeFrom) Loop.Restore(resumeFrom);
        _log?.WriteLine($"resuming {_run.Root} after epoch {Loop.Epoch} (step {Loop.Step})");
    }

    /// <summary>The OneCycle schedule at the current step.</summary>
    public void StartSchedule()
    {
        Loop.StartSchedule();
        if (Loop.Epoch >= _t.Epochs)
            _log?.WriteLine($"{_run.Root}: all {_t.Epochs} epochs already completed");
    }

    public void SaveState(Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata)
    {
        if (_linearCosines is not null) tensors[LinearCosinesKey] = _linearCosines.clone();
        metadata["best_val"] = _bestVal.ToString("R", CultureInfo.InvariantCulture);
        metadata["best_epoch"] = _bestEpoch.ToString(CultureInfo.InvariantCulture);
        metadata["seed"] = _t.Seed.ToString(CultureInfo.InvariantCulture);
        metadata["voxels_detail"] = _net.VoxelsDetail.ToString(CultureInfo.InvariantCulture);
        metadata["voxels_semantic"] = _net.VoxelsSemantic.ToString(CultureInfo.InvariantCulture);
        metadata["config"] = _cfg.ToJson();
    }

    public void RestoreState(Checkpoint ck)
    {
        _bestVal = double.Parse(ck.Metadata["best_val"], CultureInfo.InvariantCulture);
        _bestEpoch = int.Parse(ck.Metadata["best_epoch"], CultureInfo.InvariantCulture);
        _linearCosines = ck.Tensors.TryGetValue(LinearCosinesKey, out var lc) ? lc.clone() : null;
    }

    const string LinearCosinesKey = "val.linear_cosines";

    /// <summary>
    /// training.keep_linear_unless_better (with ridge_skip and zero_init_head the untrained model IS the linear map):
    /// the map is best.ckpt "epoch 0", and a trained epoch replaces it only if its validation cosines beat the map's
    /// significantly (paired over the validation samples, mean gain > 2 standard errors), so a residual that merely
    /// fits noise is never preferred over the map alone. The map's per-sample cosines travel in the checkpoints for
    /// resumed runs.
    /// </summary>
    public void SaveLinearPathAsEpochZero()
    {
        if (_split.Validation == 0 || !_t.KeepLinearUnlessBetter || !_net.RidgeSkipEncoders().Any()) return;
        var (v0S, v0D, perSample, v0Top1, v0Top1D) = Validate();
        _linearCosines = perSample;
        _bestVal = SelectionScore(v0S, v0D, v0Top1, v0Top1D);
        _bestEpoch = 0;
        Directory.CreateDirectory(_run.CheckpointDir);
        using (var ck = Loop.MakeCheckpoint(0)) ck.Save(_run.BestCheckpoint);
        _log?.WriteLine($"epoch 0 (linear path only): val cos(ê_S) {Fmt(v0S)}  val cos(ê_D) {Fmt(v0D)}");
    }

    public long StepsIn(int epoch) => _split.StepsPerEpoch;

    /// <summary>A fresh order of the training rows for this epoch.</summary>
    public void BeginEpoch(int epoch)
    {
        _net.train();
        _order?.Dispose();
        using var _ = NewDisposeScope();
        _order = _split.TrainRows.index_select(0, randperm(_split.Train, generator: _shuffleGen))
            .DetachFromDisposeScope();
    }

    /// <summary>Forward and every loss term of one batch (the loop reads them back, checks them finite and
    /// backpropagates the total plus the fusion map's loss).</summary>
    public StepLoss Loss(int epoch, long index)
    {
        long start = index * _t.BatchSize, count = Math.Min(_t.BatchSize, _split.Train - start);
        var rows = _order!.narrow(0, start, count);
        var fD = _cfg.UsesDetail ? _data.Detail.index_select(0, rows) : null;
        var fS = _cfg.UsesSemantic ? _data.Semantic.index_select(0, rows) : null;
        var eD = _data.Features.Detail(rows);
        var eS = _data.Features.Semantic(rows);
        var skipD = _oofD?.index_select(0, rows);
        var skipS = _oofS?.index_select(0, rows);
        // BiMixCo epochs: both streams' voxels (and the linear path's inputs) are mixed with the same partners; the
        // draw uses the shuffle generator, whose state the checkpoints carry, so resumed runs replay it exactly.
        _mix = epoch < _t.MixupEpochs ? MixupBatch.Draw(rows.shape[0], _shuffleGen) : null;
        if (_mix is not null)
        {
            fD = fD is null ? null : _mix.Mix(fD);
            fS = fS is null ? null : _mix.Mix(fS);
            skipD = skipD is null ? null : _mix.Mix(skipD);
            skipS = skipS is null ? null : _mix.Mix(skipS);
        }
        var output = _net.Forward(fD, fS, skipD, skipS);
        var loss = Losses.Compute(_net, output, fD, fS, eD, eS, _mix);
        var objective = loss.Fusion is null ? loss.Total : loss.Total + loss.Fusion;
        var terms = loss.Terms.Select(kv => (kv.Key, kv.Value)).Append(("total", loss.Total)).ToList();
        return new StepLoss(objective, terms, count);
    }

    public void AfterBackward(int epoch, long index)
    {
        _mix?.Dispose();
        _mix = null;
    }

    public string Progress(IReadOnlyDictionary<string, double> step, EpochStats epoch) =>
        $"loss {step["total"]:0.0000}";

    /// <summary>Validation, the metrics line, best-epoch selection, checkpoint rotation, metrics and curve
    /// files.</summary>
    public EpochEnd EndEpoch(int epoch, EpochStats r)
    {
        _order?.Dispose();
        _order = null;
        var (valSem, valDet, valPerSample, valTop1, valTop1Detail) = Validate();
        using var valPerSampleOwner = valPerSample;
        double score = SelectionScore(valSem, valDet, valTop1, valTop1Detail);
        double lr = _schedule!.Current;
        var line = new JsonObject
        {
            ["epoch"] = epoch + 1,
            ["step"] = Loop.Step,
            ["lr"] = lr,
        };
        foreach (var (k, v) in r.Sums) line["loss." + k] = v / Math.Max(1, r.Seen);
        line["val_cosine_semantic"] = double.IsNaN(valSem) ? null : valSem;
        line["val_cosine_detail"] = double.IsNaN(valDet) ? null : valDet;
        if (!double.IsNaN(valTop1)) line["val_top1"] = valTop1;
        if (!double.IsNaN(valTop1Detail)) line["val_top1_detail"] = valTop1Detail;
        line["samples_per_second"] = r.Seen / Math.Max(r.Seconds, 1e-9);
        line["seconds"] = r.Seconds;

        bool noValidation = _split.Validation == 0;
        bool improved = noValidation || (!double.IsNaN(score) && score > _bestVal
            && (_linearCosines is null || SignificantlyBetter(valPerSample!, _linearCosines)));
        if (improved) { _bestVal = noValidation ? double.NaN : score; _bestEpoch = epoch + 1; }
        _epochSummary =
            $"epoch {epoch + 1}/{_t.Epochs}: loss {line["loss.total"]!.GetValue<double>():0.0000}  " +
            $"val cos(ê_S) {Fmt(valSem)}  val cos(ê_D) {Fmt(valDet)}  lr {lr:0.###e+0}  " +
            $"{line["samples_per_second"]!.GetValue<double>():0} samples/s";
        return new EpochEnd(line, improved);
    }

    /// <summary>After the loop wrote the checkpoints and metrics.jsonl: the curve and the epoch's log line.</summary>
    public void AfterCheckpoint(int epoch)
    {
        TrainingCurve.TryWrite(_run.CurvePath, Loop.Metrics, _log);
        _log?.WriteLine(_epochSummary);
    }

    /// <summary>
    /// The best-checkpoint score: validation cosine of ê_S (ê_D for detail_only); with training.select_by retrieval
    /// the mean of both directions' validation top-1 of that stream; with retrieval_both the mean of that score over
    /// both streams (the semantic top-1 alone is small and noisy and can keep an epoch whose detail stream is half
    /// trained, docs/evidence.md).
    /// </summary>
    double SelectionScore(double cosSemantic, double cosDetail, double top1, double top1Detail) => _t.SelectBy switch
    {
        "retrieval" => top1,
        "retrieval_both" => double.IsNaN(top1Detail) ? top1 : (top1 + top1Detail) / 2,
        _ => _cfg.UsesSemantic ? cosSemantic : cosDetail,
    };

    public TrainResult Result(bool interrupted) =>
        new(Loop.Epoch, Loop.Step, _bestVal, _bestEpoch, _run.Root, interrupted, Loop.Metrics);

    /// <summary>Mean cosine between flattened predicted and true tokens on the validation rows (eval mode).</summary>
    /// <returns>Mean cosines per stream, the per-sample cosines (float64, n) of the selection stream and, with
    /// select_by retrieval(_both), the validation top-1 (mean of both directions) of the selection stream and of the
    /// detail stream (NaN when not computed).</returns>
    (double semantic, double detail, Tensor? perSample, double top1, double top1Detail) Validate()
    {
        var valIdx = _split.ValidationRows;
        int batch = _t.BatchSize;
        long n = valIdx.shape[0];
        if (n == 0) return (double.NaN, double.NaN, null, double.NaN, double.NaN);
        _net.eval();
        using var _ = no_grad();
        double sumS = 0, sumD = 0;
        var c = _net.Config;
        bool retrieval = _t.SelectBy is "retrieval" or "retrieval_both";
        bool detailTop1 = _t.SelectBy == "retrieval_both" && c.UsesSemantic && c.UsesDetail;
        var perSample = new List<Tensor>();
        var preds = new List<Tensor>();
        var truths = new List<Tensor>();
        var predsD = new List<Tensor>();
        var truthsD = new List<Tensor>();
        for (long start = 0; start < n; start += batch)
        {
            using var scope = NewDisposeScope();
            var rows = valIdx.narrow(0, start, Math.Min(batch, n - start));
            var o = _net.Forward(c.UsesDetail ? _data.Detail.index_select(0, rows) : null,
                c.UsesSemantic ? _data.Semantic.index_select(0, rows) : null,
                _oofD?.index_select(0, rows), _oofS?.index_select(0, rows));
            Tensor? cosS = null, cosD = null;
            var yS = c.UsesSemantic ? _data.Features.Semantic(rows).flatten(1) : null;
            var yD = c.UsesDetail ? _data.Features.Detail(rows).flatten(1) : null;
            if (o.Semantic is not null)
            {
                cosS = nn.functional.cosine_similarity(o.Semantic.flatten(1), yS!, dim: -1);
                sumS += cosS.sum().item<float>();
            }
            if (o.Detail is not null)
            {
                cosD = nn.functional.cosine_similarity(o.Detail.flatten(1), yD!, dim: -1);
                sumD += cosD.sum().item<float>();
            }
            perSample.Add((c.UsesSemantic ? cosS! : cosD!).to_type(ScalarType.Float64).MoveToOuterDisposeScope());
            if (retrieval)
            {
                preds.Add((c.UsesSemantic ? o.Semantic! : o.Detail!).flatten(1).MoveToOuterDisposeScope());
                truths.Add((c.UsesSemantic ? yS! : yD!).MoveToOuterDisposeScope());
            }
            if (detailTop1)
            {
                predsD.Add(o.Detail!.flatten(1).MoveToOuterDisposeScope());
                truthsD.Add(yD!.MoveToOuterDisposeScope());
            }
        }
        _net.train();
        var all = cat(perSample);
        foreach (var t in perSample) t.Dispose();
        double top1 = retrieval ? ValidationTop1(preds, truths, n) : double.NaN;
        double top1Detail = detailTop1 ? ValidationTop1(predsD, truthsD, n) : double.NaN;
        return (c.UsesSemantic ? sumS / n : double.NaN, c.UsesDetail ? sumD / n : double.NaN, all, top1, top1Detail);
    }

    /// <summary>
    /// training.select_by retrieval: both directions' top-1 over all validation rows in one batch (mean of the two);
    /// disposes the parts.
    /// </summary>
    static double ValidationTop1(List<Tensor> preds, List<Tensor> truths, long n)
    {
        double top1 = double.NaN;
        if (n >= 2)
        {
            using var scope = NewDisposeScope();
            var r = Retrieval.Compute(cat(preds), cat(truths), loops: 1, batch: (int)n, seed: 0);
            top1 = (r.ImageToBrainTop1 + r.BrainToImageTop1) / 2;
        }
        foreach (var t in preds.Concat(truths)) t.Dispose();
        return top1;
    }

    /// <summary>Paired comparison over validation samples: mean(a − b) > 2 standard errors.</summary>
    static bool SignificantlyBetter(Tensor a, Tensor b)
    {
        using var _ = NewDisposeScope();
        var d = a - b;
        long n = d.shape[0];
        if (n < 2) return d.sum().item<double>() > 0;
        double mean = d.mean().item<double>(), se = d.std().item<double>() / Math.Sqrt(n);
        return mean > 2 * se;
    }

    /// <summary>Mean over <paramref name="rows"/> of a feature tensor, read in chunks (features may be on
    /// disk).</summary>
    static Tensor MeanRows(Func<Tensor, Tensor> read, Tensor rows)
    {
        Tensor? sum = null;
        long n = rows.shape[0];
        for (long s = 0; s < n; s += 512)
        {
            var part = read(rows.narrow(0, s, Math.Min(512, n - s))).to_type(ScalarType.Float64).sum([0]);
            sum = sum is null ? part : sum + part;
        }
        return (sum! / n).to_type(ScalarType.Float32);
    }

    static string Fmt(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _loop?.Dispose();
        _generators.Dispose();
        _order?.Dispose();
        _mix?.Dispose();
        _oofD?.Dispose(); _oofS?.Dispose();
        _linearCosines?.Dispose();
        _net.Dispose();
    }
}
