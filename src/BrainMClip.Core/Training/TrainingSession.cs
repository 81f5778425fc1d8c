using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>Loss sums of one epoch (weighted by batch size), the samples seen and the wall time.</summary>
sealed record EpochResult(SortedDictionary<string, double> LossSums, long Seen, double Seconds);

/// <summary>
/// The state of one training run between its steps (<see cref="Trainer.Train"/> calls them in order): the network,
/// the optimiser and schedule, the run's generators, the step count, the best validation score and the metrics.
/// Every random draw comes from a generator owned by this run (initialisation, dropout, batch order), never from the
/// process-wide RNG, so runs are reproducible and resumable bit-for-bit.
/// </summary>
sealed class TrainingSession : IDisposable
{
    const long OutOfFoldLimitBytes = 2_000_000_000;

    readonly BrainMClipConfig _cfg;
    readonly TrainingSection _t;
    readonly TrainingData _data;
    readonly TrainSplit _split;
    readonly RunFolder _run;
    readonly TextWriter? _log;
    readonly BrainMClipNet _net;
    readonly Generator _dropoutGen;
    readonly Generator _shuffleGen;
    Tensor? _oofD, _oofS;
    Tensor? _linearCosines;   // validation cosines of the linear path alone (epoch 0), when it competes
    OptimizerHelper? _optimizer;
    optim.lr_scheduler.LRScheduler? _scheduler;
    List<List<Parameter>> _clipGroups = [];
    List<Parameter> _fusionParams = [];
    long _step;
    double _bestVal = double.NegativeInfinity;
    int _bestEpoch = -1;
    readonly List<JsonObject> _metrics = [];

    public int StartEpoch { get; private set; }

    public TrainingSession(BrainMClipConfig cfg, TrainingData data, TrainSplit split, RunFolder run, TextWriter? log)
    {
        _cfg = cfg; _t = cfg.Training; _data = data; _split = split; _run = run; _log = log;
        _net = new BrainMClipNet(cfg, (int)data.Detail.shape[1], (int)data.Semantic.shape[1]);
        _dropoutGen = new Generator((ulong)_t.Seed + 2);
        _shuffleGen = new Generator((ulong)_t.Seed + 1);
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

    /// <summary>AdamW with two decay groups; gradient-clipping groups.</summary>
    public void BuildOptimizer()
    {
        _optimizer = Trainer.CreateOptimizer(_net, _t);
        // Gradient-clipping groups: the fusion map always alone (its loss must not rescale the encoders' step); the
        // rest jointly, or per stream (encoder + decoder) with training.clip_per_stream.
        _clipGroups = _net.named_parameters().Where(p => !p.name.StartsWith("fusion.", StringComparison.Ordinal))
            .GroupBy(p => _t.ClipPerStream ? StreamOf(p.name) : "all")
            .Select(g => g.Select(p => p.parameter).ToList()).ToList();
        _fusionParams = _net.FusionParameters().ToList();
    }

    static string StreamOf(string parameter) =>
        parameter.EndsWith("_detail", StringComparison.Ordinal)
            || parameter.Contains("_detail.", StringComparison.Ordinal)
            ? "detail" : "semantic";

    /// <summary>Weights, optimiser, generators, best score and metrics from a checkpoint (which is disposed).</summary>
    public void Restore(Checkpoint resumeFrom)
    {
        using (resumeFrom)
        {
            Checkpoint.LoadModel(_net, resumeFrom, "checkpoint");
            resumeFrom.RestoreTraining(_optimizer!, _dropoutGen, _shuffleGen);
            StartEpoch = resumeFrom.Epoch;
            _step = resumeFrom.Step;
            _bestVal = resumeFrom.BestValidation;
            _bestEpoch = resumeFrom.BestEpoch;
            _linearCosines = resumeFrom.CloneLinearCosines();
            _metrics.AddRange(resumeFrom.MetricsHistory());
        }
        _log?.WriteLine($"resuming {_run.Root} after epoch {StartEpoch} (step {_step})");
    }

    /// <summary>The OneCycle schedule, replayed to the current step (it is a pure function of the step
    /// count).</summary>
    public void StartSchedule()
    {
        long totalSteps = _split.StepsPerEpoch * _t.Epochs;
        // OneCycleLR divides by (pct_start·total − 1): at exactly 1 (e.g. 2 steps with pct 0.5) the first LR is 0/0 =
        // NaN and the run diverges at step 2. A pct a hair smaller gives the limit value (max LR at step 0).
        double pctStart = Math.Abs(_cfg.PctStart * totalSteps - 1) < 1e-9 ? _cfg.PctStart * (1 - 1e-6) : _cfg.PctStart;
        _scheduler = optim.lr_scheduler.OneCycleLR(_optimizer!, max_lr: _t.MaxLr, total_steps: (int)totalSteps,
            pct_start: pctStart, final_div_factor: _t.FinalDivFactor);
        // Replaying the schedule restores LR and momentum exactly.
        for (long i = 0; i < _step; i++) _scheduler.step();
        if (StartEpoch >= _t.Epochs)
            _log?.WriteLine($"{_run.Root}: all {_t.Epochs} epochs already completed");
    }

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
        using (var ck = MakeCheckpoint(0)) ck.Save(_run.BestCheckpoint);
        _log?.WriteLine($"epoch 0 (linear path only): val cos(ê_S) {Fmt(v0S)}  val cos(ê_D) {Fmt(v0D)}");
    }

    /// <summary>One pass over the training rows in a freshly shuffled order.</summary>
    public EpochResult RunEpoch(int epoch, bool progressBar)
    {
        var clock = Stopwatch.StartNew();
        _net.train();
        var sums = new SortedDictionary<string, double>(StringComparer.Ordinal);
        long seen = 0, nTrain = _split.Train;
        int batch = _t.BatchSize;
        using var bar = progressBar && _log is not null
            ? new ProgressBar($"epoch {epoch + 1}/{_t.Epochs}", nTrain - (nTrain % batch == 1 ? 1 : 0), "samples", _log)
            : null;
        Tensor order;
        using (var _ = NewDisposeScope())
            order = _split.TrainRows.index_select(0, randperm(nTrain, generator: _shuffleGen)).DetachFromDisposeScope();
        using (order)
        {
            for (long b = 0; b < _split.StepsPerEpoch; b++)
            {
                using var scope = NewDisposeScope();
                long start = b * batch, count = Math.Min(batch, nTrain - start);
                var values = Step(order.narrow(0, start, count), epoch);
                seen += count;
                foreach (var (k, v) in values) sums[k] = sums.GetValueOrDefault(k) + v * count;
                bar?.Advance(count, $"loss {values["total"]:0.0000}");
            }
        }
        return new EpochResult(sums, seen, clock.Elapsed.TotalSeconds);
    }

    /// <summary>One optimiser step on a batch; returns every loss term (and the total) as numbers.</summary>
    Dictionary<string, double> Step(Tensor rows, int epoch)
    {
        Dictionary<string, double> values;
        // Forward, loss and backward in a scope of their own: the outputs and loss intermediates it holds are freed
        // before the update instead of adding to its memory.
        using (var pass = NewDisposeScope()) values = ForwardBackward(rows, epoch);
        double gradNorm = 0;
        foreach (var g in _clipGroups) gradNorm += nn.utils.clip_grad_norm_(g, _t.GradClip);
        double fusionNorm = _fusionParams.Count > 0 ? nn.utils.clip_grad_norm_(_fusionParams, _t.GradClip) : 0;
        if (!double.IsFinite(gradNorm) || !double.IsFinite(fusionNorm))
        {
            string bad = _net.named_parameters()
                .FirstOrDefault(p => p.parameter.grad is { } g && !g.isfinite().all().item<bool>()).name ?? "?";
            throw new TrainingDivergedException(
                $"training stopped at step {_step + 1} (epoch {epoch + 1}): gradient of '{bad}' is NaN/Inf " +
                $"(norm {gradNorm}); the last good checkpoint is kept");
        }
        _optimizer!.step();
        _scheduler!.step();
        _step++;
        Trainer.ReleaseGradients(_net);
        return values;
    }

    /// <summary>Forward, every loss term read back (checked finite), backward into freshly allocated
    /// gradients.</summary>
    Dictionary<string, double> ForwardBackward(Tensor rows, int epoch)
    {
        var fD = _cfg.UsesDetail ? _data.Detail.index_select(0, rows) : null;
        var fS = _cfg.UsesSemantic ? _data.Semantic.index_select(0, rows) : null;
        var eD = _data.Features.Detail(rows);
        var eS = _data.Features.Semantic(rows);
        var skipD = _oofD?.index_select(0, rows);
        var skipS = _oofS?.index_select(0, rows);
        // BiMixCo epochs: both streams' voxels (and the linear path's inputs) are mixed with the same partners; the
        // draw uses the shuffle generator, whose state the checkpoints carry, so resumed runs replay it exactly.
        using var mix = epoch < _t.MixupEpochs ? MixupBatch.Draw(rows.shape[0], _shuffleGen) : null;
        if (mix is not null)
        {
            fD = fD is null ? null : mix.Mix(fD);
            fS = fS is null ? null : mix.Mix(fS);
            skipD = skipD is null ? null : mix.Mix(skipD);
            skipS = skipS is null ? null : mix.Mix(skipS);
        }
        var output = _net.Forward(fD, fS, skipD, skipS);
        var loss = Losses.Compute(_net, output, fD, fS, eD, eS, mix);
        var values = new Dictionary<string, double>();
        foreach (var (name, v) in loss.Terms.Append(new("total", loss.Total)))
        {
            double x = v.item<float>();
            if (!double.IsFinite(x))
                throw new TrainingDivergedException(
                    $"training stopped at step {_step + 1} (epoch {epoch + 1}): loss term '{name}' is {x}; the last " +
                    $"good checkpoint ({(File.Exists(_run.LastCheckpoint) ? _run.LastCheckpoint : "none yet")}) is " +
                        $"kept");
            values[name] = x;
        }
        Trainer.ReleaseGradients(_net);
        var objective = loss.Fusion is null ? loss.Total : loss.Total + loss.Fusion;
        objective.backward();
        return values;
    }

    /// <summary>Validation, the metrics line, best-epoch selection, checkpoint rotation, metrics and curve
    /// files.</summary>
    public void EndEpoch(int epoch, EpochResult r)
    {
        var (valSem, valDet, valPerSample, valTop1, valTop1Detail) = Validate();
        using var valPerSampleOwner = valPerSample;
        double score = SelectionScore(valSem, valDet, valTop1, valTop1Detail);
        double lr = _scheduler!.get_last_lr().First();
        var line = new JsonObject
        {
            ["epoch"] = epoch + 1,
            ["step"] = _step,
            ["lr"] = lr,
        };
        foreach (var (k, v) in r.LossSums) line["loss." + k] = v / Math.Max(1, r.Seen);
        line["val_cosine_semantic"] = double.IsNaN(valSem) ? null : valSem;
        line["val_cosine_detail"] = double.IsNaN(valDet) ? null : valDet;
        if (!double.IsNaN(valTop1)) line["val_top1"] = valTop1;
        if (!double.IsNaN(valTop1Detail)) line["val_top1_detail"] = valTop1Detail;
        line["samples_per_second"] = r.Seen / Math.Max(r.Seconds, 1e-9);
        line["seconds"] = r.Seconds;
        _metrics.Add(line);

        bool noValidation = _split.Validation == 0;
        bool improved = noValidation || (!double.IsNaN(score) && score > _bestVal
            && (_linearCosines is null || SignificantlyBetter(valPerSample!, _linearCosines)));
        if (improved) { _bestVal = noValidation ? double.NaN : score; _bestEpoch = epoch + 1; }
        using (var ck = MakeCheckpoint(epoch + 1))
        {
            // Rotate: the previous last checkpoint survives until the new one is completely written.
            // Copied through a temp file + rename: a kill mid-copy must not leave a partial prev.ckpt.
            if (File.Exists(_run.LastCheckpoint))
                AtomicFile.Write(_run.PreviousCheckpoint, dst =>
                {
                    using var src = File.OpenRead(_run.LastCheckpoint); src.CopyTo(dst);
                });
            ck.Save(_run.LastCheckpoint);
            if (improved) ck.Save(_run.BestCheckpoint);
        }
        MetricsLog.Write(_run.MetricsPath, _metrics);
        TrainingCurve.TryWrite(_run.CurvePath, _metrics, _log);
        _log?.WriteLine(
            $"epoch {epoch + 1}/{_t.Epochs}: loss {line["loss.total"]!.GetValue<double>():0.0000}  " +
            $"val cos(ê_S) {Fmt(valSem)}  val cos(ê_D) {Fmt(valDet)}  lr {lr:0.###e+0}  " +
            $"{line["samples_per_second"]!.GetValue<double>():0} samples/s");
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

    public TrainResult Result(int epochsCompleted, bool interrupted) =>
        new(epochsCompleted, _step, _bestVal, _bestEpoch, _run.Root, interrupted, _metrics);

    Checkpoint MakeCheckpoint(int epoch) => Checkpoint.FromTraining(_net, _optimizer!, _dropoutGen, _shuffleGen,
        epoch, _step, _bestVal, _bestEpoch, _metrics, _cfg, _linearCosines);

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
        _scheduler = null;
        _optimizer?.Dispose();
        _shuffleGen.Dispose();
        _dropoutGen.Dispose();
        _oofD?.Dispose(); _oofS?.Dispose();
        _linearCosines?.Dispose();
        _net.Dispose();
    }
}
