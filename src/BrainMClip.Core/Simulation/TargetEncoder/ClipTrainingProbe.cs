using System.Text.Json.Nodes;
using BrainMClip.Features;
using BrainMClip.Model;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>
/// Held-out checks of a (partly) trained encoder on scenes it never saw: the objective's losses against their chance
/// values, how similar different images' CLIP-Semantic targets are (a target dominated by its shared mean is useless),
/// how well the true labels alone retrieve the semantic target (ridge, N-way top-1), and per hidden layer how well
/// a linear read-out recovers the families (pooled tokens) and the local patch statistics (patch tokens).
/// </summary>
public static class ClipTrainingProbe
{
    static readonly double[] Alphas = [0.01, 0.1, 1, 10, 100, 1000, 10000];

    /// <summary>
    /// Probe images: the first <c>count − retrievalWay</c> fit the ridge maps, the last <c>retrievalWay</c> test them.
    /// </summary>
    public static JsonObject Evaluate(ClipTrainingNet net, ClipSceneSet set, int batch, int retrievalWay,
        ClipLossWeights w, bool perLayer)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var cfg = net.Clip.Config;
        int n = (int)set.Count, fit = n - retrievalWay;
        if (fit < 2 || retrievalWay < 2)
            throw new ArgumentException($"probe set of {n} scenes is too small for {retrievalWay}-way retrieval");
        var processor = ClipImageProcessor.ForSize(cfg.ImageSize);
        var layers = Enumerable.Range(0, cfg.NumHiddenLayers + 1).ToArray();
        var semantic = new List<Tensor>();
        var pooledByLayer = layers.Select(_ => new List<Tensor>()).ToArray();
        var patchByLayer = layers.Select(_ => new List<Tensor>()).ToArray();
        var stats = new List<Tensor>();
        double pooledLoss = 0, tokenLoss = 0, presence = 0, local = 0, parts = 0;
        int lossBatches = 0;
        int patchImages = Math.Min(n, 400); // local read-out per layer: enough patches, bounded memory
        for (int s = 0; s < n; s += batch)
        {
            using var inner = NewDisposeScope();
            int b = Math.Min(batch, n - s);
            var px = Pixels(set.Images.narrow(0, s, b), processor);
            if (b == batch)
            {
                var terms = net.Loss(px, set.Captions.narrow(0, s, b), set.Families.narrow(0, s, b),
                    set.Coverage?.narrow(0, s, b), w);
                pooledLoss += terms.Pooled.item<float>(); tokenLoss += terms.Tokens.item<float>();
                presence += terms.Presence.item<float>(); local += terms.Local.item<float>();
                parts += terms.Parts.item<float>();
                lossBatches++;
            }
            using var r = net.Clip.Run(px, new ClipRunOptions { HiddenStates = perLayer ? layers : [] });
            // Read-outs are fitted on the CPU (ridge in float64), whatever device the network is on.
            semantic.Add(r.VdTokens.flatten(1).cpu().MoveToOuterDisposeScope());
            if (!perLayer) continue;
            int keep = Math.Max(0, Math.Min(b, patchImages - s));
            foreach (var k in layers)
            {
                pooledByLayer[k].Add(r.HiddenStates[k].mean([1]).cpu().MoveToOuterDisposeScope());
                if (keep > 0)
                    patchByLayer[k].Add(r.HiddenStates[k].narrow(0, 0, keep).narrow(1, 1, cfg.NumTokens - 1).cpu()
                        .MoveToOuterDisposeScope());
            }
            if (keep > 0)
            {
                var patchStats = ClipTrainingNet.PatchStatistics(px.narrow(0, 0, keep), cfg.PatchSize);
                stats.Add(patchStats.MoveToOuterDisposeScope());
            }
        }
        var targets = cat(semantic, 0);
        var result = new JsonObject
        {
            ["images"] = n,
            ["contrastive_pooled_loss"] = R(pooledLoss / lossBatches),
            ["contrastive_token_loss"] = R(tokenLoss / lossBatches),
            ["contrastive_chance"] = R(Math.Log(batch)),
            ["presence_loss"] = R(presence / lossBatches),
            ["presence_chance"] = R(PresenceChance(set.Families)),
            ["local_mse"] = R(local / lossBatches),
            ["patch_family_loss"] = set.Coverage is null ? null : R(parts / lossBatches),
            ["patch_family_chance"] = set.Coverage is null ? null : R(SoftChance(set.Coverage)),
            ["semantic_mean_cosine"] = R(MeanOffDiagonalCosine(targets)),
            ["label_retrieval"] = LabelRetrieval(set.Labels, targets, fit, retrievalWay),
            ["lowres_two_way"] = LowResIdentification(net, set.Images.narrow(0, fit, retrievalWay), processor, batch),
        };
        if (perLayer)
        {
            result["family_accuracy_chance"] = R(MajorityAccuracy(set.Families.narrow(0, fit, n - fit)));
            result["layers"] = LayerReadouts(pooledByLayer, patchByLayer, stats, set.Families, fit);
        }
        return result;
    }

    /// <summary>
    /// uint8 images (B, 3, S, S) → CLIP-normalised pixels, exactly what <c>features</c> feeds the model.
    /// </summary>
    public static Tensor Pixels(Tensor imagesU8, ClipImageProcessor processor) =>
        processor.PreprocessBatch(imagesU8.to_type(ScalarType.Float32) / 255f);

    /// <summary>
    /// The CLIP metric's question for images seen at 32 and 16 px (<see cref="LowResolution.View"/>): 2-way
    /// identification of each low-resolution view's embedding (ImageEmbeds) among the full-resolution images'
    /// (chance 0.5). 1.0 means the embedding survives the resolution loss of the demo generator's renderings.
    /// </summary>
    static JsonObject LowResIdentification(ClipTrainingNet net, Tensor imagesU8, ClipImageProcessor processor,
        int batch)
    {
        using var scope = NewDisposeScope();
        Tensor Embed(Tensor u8)
        {
            var rows = new List<Tensor>();
            for (long s = 0; s < u8.shape[0]; s += batch)
            {
                using var inner = NewDisposeScope();
                var chunk = u8.narrow(0, s, Math.Min(batch, u8.shape[0] - s));
                using var r = net.Clip.Run(Pixels(chunk, processor), new ClipRunOptions());
                rows.Add(F.normalize(r.ImageEmbeds.to_type(ScalarType.Float64), dim: -1).cpu()
                    .MoveToOuterDisposeScope());
            }
            return cat(rows, 0);
        }
        var full = Embed(imagesU8);
        var row = new JsonObject();
        foreach (int side in new[] { 32, 16 })
        {
            var sim = Embed(LowResolution.View(imagesU8, side)).matmul(full.t());   // (N, N): view i vs image j
            var right = sim.diagonal().unsqueeze(1);
            long n = sim.shape[0];
            double wins = sim.lt(right).to_type(ScalarType.Float64).sum().item<double>();
            row[$"side_{side}"] = R(wins / (n * (double)(n - 1)));
        }
        return row;
    }

    /// <summary>
    /// BCE of always predicting each family's base rate (the loss of a head that learned nothing about the image).
    /// </summary>
    public static double PresenceChance(Tensor families)
    {
        using var scope = NewDisposeScope();
        var p = families.to_type(ScalarType.Float64).mean([0]).clamp(1e-6, 1 - 1e-6);
        return (-(p * p.log() + (1 - p) * (1 - p).log())).mean().item<double>();
    }

    /// <summary>
    /// BCE of predicting each family's mean coverage for every patch (soft targets; includes their own entropy).
    /// </summary>
    static double SoftChance(Tensor coverage)
    {
        using var scope = NewDisposeScope();
        var y = coverage.to_type(ScalarType.Float64).flatten(0, 1);
        var p = y.mean([0], keepdim: true).clamp(1e-6, 1 - 1e-6);
        return (-(y * p.log() + (1 - y) * (1 - p).log())).mean().item<double>();
    }

    /// <summary>Accuracy of always answering each family's majority value.</summary>
    static double MajorityAccuracy(Tensor families)
    {
        using var scope = NewDisposeScope();
        var p = families.to_type(ScalarType.Float64).gt(0.5).to_type(ScalarType.Float64).mean([0]);
        return maximum(p, 1 - p).mean().item<double>();
    }

    /// <summary>Mean cosine between the flattened targets of different images.</summary>
    public static double MeanOffDiagonalCosine(Tensor flat)
    {
        using var scope = NewDisposeScope();
        var u = F.normalize(flat.to_type(ScalarType.Float64), dim: -1);
        long n = u.shape[0];
        var sum = u.sum([0]);
        double all = sum.dot(sum).item<double>();              // Σ_ij cos = |Σ u|², diagonal contributes n
        return (all - n) / (n * (double)(n - 1));
    }

    static JsonObject LabelRetrieval(Tensor labels, Tensor targets, int fit, int way)
    {
        using var scope = NewDisposeScope();
        var x = labels.narrow(0, 0, fit);
        var map = Ridge.Fit(x, targets.narrow(0, 0, fit), Alphas, folds: 5, seed: 7);
        var pred = map.Apply(labels.narrow(0, fit, way));
        var r = Retrieval.Compute(pred, targets.narrow(0, fit, way), loops: 1, batch: way);
        return new JsonObject
        {
            ["way"] = way,
            ["fit_images"] = fit,
            ["alpha"] = map.Alpha,
            ["top1_labels_to_target"] = R(r.BrainToImageTop1),
            ["top1_target_to_labels"] = R(r.ImageToBrainTop1),
            ["chance"] = R(1.0 / way),
        };
    }

    /// <summary>
    /// Per hidden state: family read-out (pooled tokens) accuracy and local patch-statistics R² (patch tokens).
    /// </summary>
    static JsonArray LayerReadouts(List<Tensor>[] pooled, List<Tensor>[] patches, List<Tensor> stats, Tensor families,
        int fit)
    {
        using var scope = NewDisposeScope();
        var rows = new JsonArray();
        var y = families.to_type(ScalarType.Float32);
        var st = cat(stats, 0);                                   // (M, G², 6)
        long m = st.shape[0], fitPatch = m * 3 / 4;
        var stFit = st.narrow(0, 0, fitPatch).flatten(0, 1);
        var stTest = st.narrow(0, fitPatch, m - fitPatch).flatten(0, 1);
        for (int k = 0; k < pooled.Length; k++)
        {
            using var inner = NewDisposeScope();
            var x = cat(pooled[k], 0);
            var map = Ridge.Fit(x.narrow(0, 0, fit), y.narrow(0, 0, fit), Alphas, folds: 5, seed: 7);
            var pred = map.Apply(x.narrow(0, fit, x.shape[0] - fit));
            var truth = y.narrow(0, fit, y.shape[0] - fit);
            double acc = pred.gt(0.5).eq(truth.gt(0.5)).to_type(ScalarType.Float64).mean().item<double>();
            var xp = cat(patches[k], 0);
            var lmap = Ridge.Fit(xp.narrow(0, 0, fitPatch).flatten(0, 1), stFit, Alphas, folds: 3, seed: 7);
            var lpred = lmap.Apply(xp.narrow(0, fitPatch, m - fitPatch).flatten(0, 1));
            rows.Add(new JsonObject
            {
                ["hidden_state"] = k,
                ["family_accuracy"] = R(acc),
                ["local_r2"] = R(RSquared(lpred, stTest)),
            });
        }
        return rows;
    }

    /// <summary>1 − SSE/SST averaged over output columns.</summary>
    public static double RSquared(Tensor pred, Tensor truth)
    {
        using var scope = NewDisposeScope();
        var t = truth.to_type(ScalarType.Float64);
        var sse = (pred.to_type(ScalarType.Float64) - t).pow(2).sum([0]);
        var sst = (t - t.mean([0], keepdim: true)).pow(2).sum([0]).clamp_min(1e-12);
        return (1 - sse / sst).mean().item<double>();
    }

    static JsonNode R(double v) => Math.Round(v, 4);
}
