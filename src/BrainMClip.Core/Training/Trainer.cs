using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using BrainMClip.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>Training inputs: z-scored voxel matrices (rows aligned with the feature rows) and the CLIP targets.</summary>
public sealed record TrainingData(Tensor Detail, Tensor Semantic, FeatureStore Features)
{
    public long Samples => Detail.shape[0];

    public void Validate()
    {
        if (Detail.dim() != 2 || Semantic.dim() != 2)
            throw new UserInputException($"fMRI matrices must be (samples, voxels); got [{string.Join(",", Detail.shape)}] and [{string.Join(",", Semantic.shape)}]");
        if (Detail.shape[0] != Semantic.shape[0] || Detail.shape[0] != Features.Rows)
            throw new UserInputException(
                $"{Features.Source}: features hold {Features.Rows} rows but the training split has {Detail.shape[0]} samples (detail) / {Semantic.shape[0]} (semantic); the features file must be computed on the train stimuli in order");
    }
}

public sealed class TrainOptions
{
    /// <summary>Continue from the run folder's last good checkpoint.</summary>
    public bool Resume { get; init; }
    /// <summary>Stop after this many completed epochs (as if interrupted); the run can be resumed later.</summary>
    public int? StopAfterEpoch { get; init; }
    /// <summary>Progress and messages (stderr by default); null for silence.</summary>
    public TextWriter? Log { get; init; } = Console.Error;
    public bool ProgressBar { get; init; } = true;
    /// <summary>Called under the run-folder lock before training starts (e.g. to save normalisation statistics).</summary>
    public Action<RunFolder>? PrepareRun { get; init; }
}

public sealed record TrainResult(int EpochsCompleted, long Steps, double BestValidationCosine, int BestEpoch,
    string RunDir, bool Interrupted, IReadOnlyList<JsonObject> Metrics);

/// <summary>A loss term or gradient became NaN/Inf; training stopped and the last good checkpoint was kept.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// Training (docs/model.md): AdamW (no decay on biases/norms), OneCycle, gradient clipping, seeded and deterministic on CPU,
/// resumable bit-for-bit from the checkpoint written at the end of every epoch.
/// </summary>
public static class Trainer
{
    public static TrainResult Train(BrainMClipConfig cfg, TrainingData data, string runDir, TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        data.Validate();
        var run = new RunFolder(runDir);
        using var runLock = run.Lock();
        var log = options.Log;
        var t = cfg.Training;

        cfg = cfg with
        {
            Model = cfg.Model with { Tokens = data.Features.Tokens, DetailWidth = data.Features.DetailWidth, SemanticWidth = data.Features.SemanticWidth },
        };
        Checkpoint? resumeFrom = null;
        bool hasCheckpoint = File.Exists(run.LastCheckpoint) || File.Exists(run.PreviousCheckpoint);
        // A run killed before its first checkpoint (or before writing config.json) has nothing to resume: --resume
        // then starts it from the beginning, which gives exactly the uninterrupted result.
        if (options.Resume && (hasCheckpoint || File.Exists(run.ConfigPath)))
        {
            if (!File.Exists(run.ConfigPath)) throw new UserInputException($"{run.ConfigPath}: cannot resume, the run folder has no config.json");
            var saved = BrainMClipConfig.Parse(File.ReadAllText(run.ConfigPath), run.ConfigPath);
            if (saved.ToJson() != cfg.ToJson())
                throw new UserInputException($"{run.ConfigPath}: the run was started with a different configuration; resume with the same --config/--epochs/--seed (saved: {saved.Training.Epochs} epochs, seed {saved.Training.Seed})");
            if (hasCheckpoint) resumeFrom = LoadLatestGood(run, log);
            else log?.WriteLine($"{run.Root}: no checkpoint yet (the run stopped during its first epoch); starting from the beginning");
        }
        else
        {
            if (File.Exists(run.LastCheckpoint) || File.Exists(run.PreviousCheckpoint))
                throw new UserInputException($"{run.Root}: already holds a training run; use --resume to continue it or choose another --out");
            Directory.CreateDirectory(run.Root);
            AtomicFile.WriteAllText(run.ConfigPath, cfg.ToJson() + "\n");
        }

        // Temp files of a process killed while writing a checkpoint (checkpoints are large).
        foreach (var f in new[] { run.LastCheckpoint, run.PreviousCheckpoint, run.BestCheckpoint, run.MetricsPath, run.CurvePath })
            AtomicFile.DeleteStaleTemps(f);
        options.PrepareRun?.Invoke(run);
        long n = data.Samples;
        // Seeded validation split: the same for a run and its resumptions.
        long nVal = (long)Math.Round(n * t.ValFraction);
        if (n - nVal < 2) throw new UserInputException($"training split has {n} samples; need at least 2 after holding out {nVal} for validation");
        Tensor trainIdx, valIdx;
        using (var splitGen = new Generator((ulong)t.Seed + 7919))
        {
            var perm = randperm(n, generator: splitGen);
            valIdx = perm.narrow(0, 0, nVal).sort().Values.DetachFromDisposeScope();
            trainIdx = perm.narrow(0, nVal, n - nVal).sort().Values.DetachFromDisposeScope();
        }
        long nTrain = trainIdx.shape[0];
        int batch = t.BatchSize;
        // A final batch of one sample has no negatives for SoftCLIP; it is dropped (at most one sample per epoch).
        long stepsPerEpoch = nTrain / batch + (nTrain % batch >= 2 ? 1 : 0);
        long totalSteps = stepsPerEpoch * t.Epochs;

        // Every random draw comes from a generator owned by this run (initialisation, dropout, batch order), never
        // from the process-wide RNG, so runs are reproducible and resumable bit-for-bit.
        using var net = new BrainMClipNet(cfg, (int)data.Detail.shape[1], (int)data.Semantic.shape[1]);
        Tensor? oofD = null, oofS = null;
        using var oofOwner = new DisposeAll(() => { oofD?.Dispose(); oofS?.Dispose(); });
        using (var initGen = new Generator((ulong)t.Seed)) net.Initialize(initGen);
        using (var _ = NewDisposeScope())
        {
            var meanD = MeanRows(data.Features.Detail, trainIdx);
            var meanS = MeanRows(data.Features.Semantic, trainIdx);
            // model.ridge_skip: the closed-form linear path, fitted on every training row exactly as the ridge baseline
            // is (the validation part included: its 10 % of the samples measurably help the linear map); a resumed run
            // takes the map from the checkpoint. The map already predicts the mean, so the learned head starts at zero
            // output instead. With ridge_skip_out_of_fold, training and validation see each row's out-of-fold linear
            // prediction instead (stacking), so the residual corrects the map's errors on unseen rows and the
            // validation score is honest; the fit is deterministic, so a resumed run recomputes the same table.
            foreach (var (stream, encoder) in net.RidgeSkipEncoders())
            {
                bool detail = stream == "detail";
                if (detail) meanD = zeros_like(meanD); else meanS = zeros_like(meanS);
                // A resumed run has the map in its checkpoint; it refits only for the out-of-fold table (alpha).
                if (resumeFrom is not null && !cfg.Model.RidgeSkipOutOfFold) continue;
                var x = detail ? data.Detail : data.Semantic;
                var y = (detail ? data.Features.AllDetail() : data.Features.AllSemantic()).flatten(1);
                var map = RidgeBaseline.Fit(x, y, cfg.Ridge.Alphas, cfg.Ridge.Folds, t.Seed, log, $"{stream} (ridge_skip)");
                if (resumeFrom is null) encoder.SetRidgeSkip(map.Weight, map.Bias);
                if (!cfg.Model.RidgeSkipOutOfFold) continue;
                if (y.numel() * sizeof(float) > OutOfFoldLimitBytes)
                {
                    log?.WriteLine($"ridge_skip {stream}: the out-of-fold table ({y.numel() * sizeof(float) / 1e9:0.0} GB) exceeds {OutOfFoldLimitBytes / 1e9:0} GB; training against the all-rows map");
                    continue;
                }
                var oof = RidgeBaseline.OutOfFold(x, y, map.Alpha, cfg.Ridge.Folds, t.Seed).DetachFromDisposeScope();
                if (detail) oofD = oof; else oofS = oof;
            }
            net.InitializeOutputBias(meanD, meanS);
        }
        using var dropoutGen = new Generator((ulong)t.Seed + 2);
        net.DropoutGenerator = dropoutGen;
        var (decay, noDecay) = ParameterGroups(net);
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, lr: t.MaxLr, weight_decay: t.WeightDecay),
            new(noDecay, lr: t.MaxLr, weight_decay: 0.0),
        };
        using var optimizer = optim.AdamW(groups, lr: t.MaxLr, weight_decay: t.WeightDecay);
        // Gradient-clipping groups: the fusion map always alone (its loss must not rescale the encoders' step); the
        // rest jointly, or per stream (encoder + decoder) with training.clip_per_stream.
        var clipGroups = net.named_parameters().Where(p => !p.name.StartsWith("fusion.", StringComparison.Ordinal))
            .GroupBy(p => t.ClipPerStream ? (p.name.EndsWith("_detail", StringComparison.Ordinal) || p.name.Contains("_detail.", StringComparison.Ordinal) ? "detail" : "semantic") : "all")
            .Select(g => g.Select(p => p.parameter).ToList()).ToList();
        var fusionParams = net.FusionParameters().ToList();
        var names = net.named_parameters().ToDictionary(p => p.parameter.Handle, p => p.name);

        using var shuffleGen = new Generator((ulong)t.Seed + 1);
        int startEpoch = 0;
        long step = 0;
        double bestVal = double.NegativeInfinity;
        int bestEpoch = -1;
        Tensor? linearCosines = null;   // validation cosines of the linear path alone (epoch 0), when it competes
        using var linearOwner = new DisposeAll(() => linearCosines?.Dispose());
        var metrics = new List<JsonObject>();
        if (resumeFrom is not null)
        {
            using (resumeFrom)
            {
                LoadModel(net, resumeFrom, "checkpoint");
                using (var ms = new MemoryStream(Checkpoint.TensorBytes(resumeFrom.Tensors["optimizer"])))
                using (var br = new BinaryReader(ms)) optimizer.load_state_dict(br);
                dropoutGen.set_state(resumeFrom.Tensors["rng.dropout"]);
                shuffleGen.set_state(resumeFrom.Tensors["rng.shuffle"]);
                startEpoch = resumeFrom.Epoch;
                step = resumeFrom.Step;
                bestVal = double.Parse(resumeFrom.Metadata["best_val"], CultureInfo.InvariantCulture);
                bestEpoch = int.Parse(resumeFrom.Metadata["best_epoch"], CultureInfo.InvariantCulture);
                if (resumeFrom.Tensors.TryGetValue(LinearCosinesKey, out var lc)) linearCosines = lc.clone();
                foreach (var line in resumeFrom.Metadata["metrics"].Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    metrics.Add((JsonObject)JsonNode.Parse(line)!);
            }
            log?.WriteLine($"resuming {run.Root} after epoch {startEpoch} (step {step})");
        }
        // OneCycleLR divides by (pct_start·total − 1): at exactly 1 (e.g. 2 steps with pct 0.5) the first LR is 0/0 = NaN
        // and the run diverges at step 2. A pct a hair smaller gives the limit value (max LR at step 0).
        double pctStart = Math.Abs(cfg.PctStart * totalSteps - 1) < 1e-9 ? cfg.PctStart * (1 - 1e-6) : cfg.PctStart;
        var scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr: t.MaxLr, total_steps: (int)totalSteps,
            pct_start: pctStart, final_div_factor: t.FinalDivFactor);
        // The schedule is a pure function of the step count: replaying it restores LR and momentum exactly.
        for (long i = 0; i < step; i++) scheduler.step();

        if (startEpoch >= t.Epochs)
            log?.WriteLine($"{run.Root}: all {t.Epochs} epochs already completed");

        // With ridge_skip and zero_init_head the untrained model IS the linear map: it is best.ckpt "epoch 0", and a
        // trained epoch replaces it only if its validation cosines beat the map's significantly (paired over the
        // validation samples, mean gain > 2 standard errors), so a residual that merely fits noise is never preferred
        // over the map alone. The map's per-sample cosines travel in the checkpoints for resumed runs.
        if (resumeFrom is null && nVal > 0 && cfg.Model.ZeroInitHead && net.RidgeSkipEncoders().Any())
        {
            var (v0S, v0D, perSample) = Validate(net, data, valIdx, batch, oofD, oofS);
            linearCosines = perSample;
            bestVal = cfg.UsesSemantic ? v0S : v0D;
            bestEpoch = 0;
            using (var ck = MakeCheckpoint(net, optimizer, dropoutGen, shuffleGen, 0, 0, bestVal, bestEpoch, metrics, cfg, linearCosines))
                ck.Save(run.BestCheckpoint);
            log?.WriteLine($"epoch 0 (linear path only): val cos(ê_S) {Fmt(v0S)}  val cos(ê_D) {Fmt(v0D)}");
        }

        for (int epoch = startEpoch; epoch < t.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            net.train();
            var sums = new SortedDictionary<string, double>(StringComparer.Ordinal);
            long seen = 0;
            using var bar = options.ProgressBar && log is not null
                ? new ProgressBar($"epoch {epoch + 1}/{t.Epochs}", nTrain - (nTrain % batch == 1 ? 1 : 0), "samples", log)
                : null;
            Tensor order;
            using (var _ = NewDisposeScope())
                order = trainIdx.index_select(0, randperm(nTrain, generator: shuffleGen)).DetachFromDisposeScope();
            using (order)
            {
                for (long b = 0; b < stepsPerEpoch; b++)
                {
                    using var scope = NewDisposeScope();
                    long start = b * batch, count = Math.Min(batch, nTrain - start);
                    var rows = order.narrow(0, start, count);
                    var fD = cfg.UsesDetail ? data.Detail.index_select(0, rows) : null;
                    var fS = cfg.UsesSemantic ? data.Semantic.index_select(0, rows) : null;
                    var eD = data.Features.Detail(rows);
                    var eS = data.Features.Semantic(rows);
                    var output = net.Forward(fD, fS, oofD?.index_select(0, rows), oofS?.index_select(0, rows));
                    var loss = Losses.Compute(net, output, fD, fS, eD, eS);
                    var values = new Dictionary<string, double>();
                    foreach (var (name, v) in loss.Terms.Append(new("total", loss.Total)))
                    {
                        double x = v.item<float>();
                        if (!double.IsFinite(x))
                            throw new TrainingDivergedException(
                                $"training stopped at step {step + 1} (epoch {epoch + 1}): loss term '{name}' is {x}; the last good checkpoint ({(File.Exists(run.LastCheckpoint) ? run.LastCheckpoint : "none yet")}) is kept");
                        values[name] = x;
                    }
                    optimizer.zero_grad();
                    var objective = loss.Fusion is null ? loss.Total : loss.Total + loss.Fusion;
                    objective.backward();
                    double gradNorm = 0;
                    foreach (var g in clipGroups) gradNorm += nn.utils.clip_grad_norm_(g, t.GradClip);
                    double fusionNorm = fusionParams.Count > 0 ? nn.utils.clip_grad_norm_(fusionParams, t.GradClip) : 0;
                    if (!double.IsFinite(gradNorm) || !double.IsFinite(fusionNorm))
                    {
                        string bad = net.named_parameters().FirstOrDefault(p => p.parameter.grad is { } g && !g.isfinite().all().item<bool>()).name ?? "?";
                        throw new TrainingDivergedException(
                            $"training stopped at step {step + 1} (epoch {epoch + 1}): gradient of '{bad}' is NaN/Inf (norm {gradNorm}); the last good checkpoint is kept");
                    }
                    optimizer.step();
                    scheduler.step();
                    step++;
                    seen += count;
                    foreach (var (k, v) in values) sums[k] = sums.GetValueOrDefault(k) + v * count;
                    bar?.Advance(count, $"loss {values["total"]:0.0000}");
                }
            }
            double secs = clock.Elapsed.TotalSeconds;
            var (valSem, valDet, valPerSample) = Validate(net, data, valIdx, batch, oofD, oofS);
            using var valPerSampleOwner = valPerSample;
            double score = cfg.UsesSemantic ? valSem : valDet;
            double lr = scheduler.get_last_lr().First();
            var line = new JsonObject
            {
                ["epoch"] = epoch + 1,
                ["step"] = step,
                ["lr"] = lr,
            };
            foreach (var (k, v) in sums) line["loss." + k] = v / Math.Max(1, seen);
            line["val_cosine_semantic"] = double.IsNaN(valSem) ? null : valSem;
            line["val_cosine_detail"] = double.IsNaN(valDet) ? null : valDet;
            line["samples_per_second"] = seen / Math.Max(secs, 1e-9);
            line["seconds"] = secs;
            metrics.Add(line);

            bool improved = nVal == 0 || (!double.IsNaN(score) && score > bestVal
                && (linearCosines is null || SignificantlyBetter(valPerSample!, linearCosines)));
            if (improved) { bestVal = nVal == 0 ? double.NaN : score; bestEpoch = epoch + 1; }
            using (var ck = MakeCheckpoint(net, optimizer, dropoutGen, shuffleGen, epoch + 1, step, bestVal, bestEpoch, metrics, cfg, linearCosines))
            {
                // Rotate: the previous last checkpoint survives until the new one is completely written.
                // Copied through a temp file + rename: a kill mid-copy must not leave a partial prev.ckpt.
                if (File.Exists(run.LastCheckpoint))
                    AtomicFile.Write(run.PreviousCheckpoint, dst => { using var src = File.OpenRead(run.LastCheckpoint); src.CopyTo(dst); });
                ck.Save(run.LastCheckpoint);
                if (improved) ck.Save(run.BestCheckpoint);
            }
            MetricsLog.Write(run.MetricsPath, metrics);
            TrainingCurve.TryWrite(run.CurvePath, metrics, log);
            log?.WriteLine($"epoch {epoch + 1}/{t.Epochs}: loss {line["loss.total"]!.GetValue<double>():0.0000}  val cos(ê_S) {Fmt(valSem)}  val cos(ê_D) {Fmt(valDet)}  lr {lr:0.###e+0}  {line["samples_per_second"]!.GetValue<double>():0} samples/s");

            if (options.StopAfterEpoch is { } stop && epoch + 1 >= stop && epoch + 1 < t.Epochs)
                return new TrainResult(epoch + 1, step, bestVal, bestEpoch, run.Root, true, metrics);
        }
        trainIdx.Dispose(); valIdx.Dispose();
        return new TrainResult(Math.Max(startEpoch, t.Epochs), step, bestVal, bestEpoch, run.Root, false, metrics);
    }

    const long OutOfFoldLimitBytes = 2_000_000_000;

    sealed class DisposeAll(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }

    /// <summary>Mean over <paramref name="rows"/> of a feature tensor, read in chunks (features may be on disk).</summary>
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

    /// <summary>Weight decay on weight matrices only; none on biases, norms and the learned token bias (MindBridge).</summary>
    public static (List<Parameter> decay, List<Parameter> noDecay) ParameterGroups(nn.Module net)
    {
        var decay = new List<Parameter>(); var noDecay = new List<Parameter>();
        foreach (var (name, p) in net.named_parameters())
        {
            bool no = name.EndsWith("bias", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal) || p.dim() < 2;
            (no ? noDecay : decay).Add(p);
        }
        return (decay, noDecay);
    }

    /// <summary>Mean cosine between flattened predicted and true tokens on the validation rows (eval mode).</summary>
    /// <returns>Mean cosines per stream and the per-sample cosines (float64, n) of the selection stream.</returns>
    static (double semantic, double detail, Tensor? perSample) Validate(BrainMClipNet net, TrainingData data, Tensor valIdx, int batch, Tensor? oofD, Tensor? oofS)
    {
        long n = valIdx.shape[0];
        if (n == 0) return (double.NaN, double.NaN, null);
        net.eval();
        using var _ = no_grad();
        double sumS = 0, sumD = 0;
        var c = net.Config;
        var perSample = new List<Tensor>();
        for (long start = 0; start < n; start += batch)
        {
            using var scope = NewDisposeScope();
            var rows = valIdx.narrow(0, start, Math.Min(batch, n - start));
            var o = net.Forward(c.UsesDetail ? data.Detail.index_select(0, rows) : null, c.UsesSemantic ? data.Semantic.index_select(0, rows) : null,
                oofD?.index_select(0, rows), oofS?.index_select(0, rows));
            Tensor? cosS = null, cosD = null;
            if (o.Semantic is not null)
            {
                cosS = nn.functional.cosine_similarity(o.Semantic.flatten(1), data.Features.Semantic(rows).flatten(1), dim: -1);
                sumS += cosS.sum().item<float>();
            }
            if (o.Detail is not null)
            {
                cosD = nn.functional.cosine_similarity(o.Detail.flatten(1), data.Features.Detail(rows).flatten(1), dim: -1);
                sumD += cosD.sum().item<float>();
            }
            perSample.Add((c.UsesSemantic ? cosS! : cosD!).to_type(ScalarType.Float64).MoveToOuterDisposeScope());
        }
        net.train();
        var all = cat(perSample);
        foreach (var t in perSample) t.Dispose();
        return (c.UsesSemantic ? sumS / n : double.NaN, c.UsesDetail ? sumD / n : double.NaN, all);
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

    const string LinearCosinesKey = "val.linear_cosines";

    static Checkpoint MakeCheckpoint(BrainMClipNet net, OptimizerHelper optimizer, Generator dropout, Generator shuffle, int epoch, long step,
        double bestVal, int bestEpoch, List<JsonObject> metrics, BrainMClipConfig cfg, Tensor? linearCosines)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in net.state_dict()) tensors["model." + k] = v.detach().clone();
        if (linearCosines is not null) tensors[LinearCosinesKey] = linearCosines.clone();
        using (var ms = new MemoryStream())
        {
            using (var bw = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(bw);
            tensors["optimizer"] = Checkpoint.BytesTensor(ms.ToArray());
        }
        tensors["rng.dropout"] = dropout.get_state();
        tensors["rng.shuffle"] = shuffle.get_state();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["scheduler_steps"] = step.ToString(CultureInfo.InvariantCulture),
            ["best_val"] = bestVal.ToString("R", CultureInfo.InvariantCulture),
            ["best_epoch"] = bestEpoch.ToString(CultureInfo.InvariantCulture),
            // Generator seeds: initialisation seed, shuffle seed+1, dropout seed+2, validation split seed+7919.
            ["seed"] = cfg.Training.Seed.ToString(CultureInfo.InvariantCulture),
            ["voxels_detail"] = net.VoxelsDetail.ToString(CultureInfo.InvariantCulture),
            ["voxels_semantic"] = net.VoxelsSemantic.ToString(CultureInfo.InvariantCulture),
            ["config"] = cfg.ToJson(),
            ["metrics"] = string.Join("\n", metrics.Select(m => m.ToJsonString())),
        };
        return new Checkpoint { Tensors = tensors, Metadata = meta };
    }

    /// <summary>The newest checkpoint that verifies (last, then prev); corrupt ones are reported and skipped.</summary>
    public static Checkpoint LoadLatestGood(RunFolder run, TextWriter? log)
    {
        var problems = new List<string>();
        foreach (var path in new[] { run.LastCheckpoint, run.PreviousCheckpoint })
        {
            var ck = Checkpoint.TryLoad(path, out var problem);
            if (ck is not null)
            {
                if (problems.Count > 0) log?.WriteLine($"warning: {string.Join("; ", problems)}; using {path} (epoch {ck.Epoch})");
                return ck;
            }
            problems.Add($"{path}: {problem}");
        }
        throw new UserInputException($"{run.Root}: no usable checkpoint to resume from ({string.Join("; ", problems)})");
    }

    /// <summary>Copies <c>model.*</c> tensors of a checkpoint into the network, checking keys and shapes exactly.</summary>
    public static void LoadModel(nn.Module net, Checkpoint ck, string what)
    {
        using var _ = no_grad();
        var sd = net.state_dict();
        foreach (var (k, dest) in sd)
        {
            if (!ck.Tensors.TryGetValue("model." + k, out var src))
                throw new UserInputException($"{what}: tensor 'model.{k}' missing (configuration and checkpoint disagree)");
            if (!src.shape.SequenceEqual(dest.shape))
                throw new UserInputException($"{what}: tensor 'model.{k}' has shape [{string.Join(",", src.shape)}], the model expects [{string.Join(",", dest.shape)}]");
            dest.copy_(src);
        }
        var extra = ck.Tensors.Keys.Where(k => k.StartsWith("model.", StringComparison.Ordinal) && !sd.ContainsKey(k[6..])).ToList();
        if (extra.Count > 0) throw new UserInputException($"{what}: unexpected tensors {string.Join(", ", extra.Take(5))}");
    }
}

/// <summary>metrics.jsonl: one JSON object per epoch, rewritten atomically after every epoch.</summary>
public static class MetricsLog
{
    public static void Write(string path, IEnumerable<JsonObject> lines) =>
        AtomicFile.WriteAllText(path, string.Concat(lines.Select(l => l.ToJsonString() + "\n")));

    public static List<JsonObject> Read(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
}
