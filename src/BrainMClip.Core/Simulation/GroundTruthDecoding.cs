using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Evaluation;
using BrainMClip.Features;
using BrainMClip.IO;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Simulation;

/// <summary>
/// What each voxel stream of a synthetic subject carries about its ground truth (DATA/ground_truth/, written by
/// `brainmclip synth`): linear decoders (ridge, alpha by 5-fold CV on the training split) from the z-scored fMRI of
/// each stream to the category set (presence per label, thresholded at 0.5: per-label and exact-set accuracy on the
/// test split), to the local contrast maps and to the within-category attributes (Pearson r per column, mean; for
/// attributes only over test images that hold the family); RSA of the ground truth itself with each ROI group.
/// Optionally, how well the true labels and captions alone
/// predict a CLIP-Semantic target (ridge, then top-1 retrieval as in docs/evaluation.md).
/// </summary>
public static class GroundTruthDecoding
{
    static readonly double[] Alphas = [0.1, 1, 10, 100, 1e3, 1e4, 1e5, 1e6];
    const int Folds = 5;

    /// <param name="features">optional (train, test) feature files (brainmclip features) of the subject's
    /// stimuli.</param>
    /// <param name="noiseFree">also decode from the noise-free signal (ground_truth/*_signal.npy): the ceiling the
    /// noise leaves ridge below.</param>
    public static JsonObject Run(string dataRoot, int subject, (string Train, string Test)? features, bool noiseFree,
        TextWriter? log)
    {
        var s = NsdSubject.Open(dataRoot, subject);
        string gt = Path.Combine(dataRoot, "ground_truth"), sub = $"subj{subject:00}";
        string Gt(string name) => Path.Combine(gt, $"{sub}_{name}.npy");
        UserInputException.RequireFile(Gt("train_labels"), "ground-truth labels (written by brainmclip synth)");
        using var scope = NewDisposeScope();
        Tensor? Load(string name, string split, long rows)
        {
            string p = Gt($"{split}_{name}");
            if (!File.Exists(p)) return null;
            var a = Npy.Read(p);
            if (a.Shape[0] != rows)
                throw new UserInputException($"{p}: {a.Shape[0]} rows, but the {split} split has {rows}");
            return tensor(a.ToFloat32(), a.Shape).reshape(rows, -1);
        }
        var (ntr, nte) = (s.TrainSamples, s.TestSamples);
        var labTr = Load("labels", "train", ntr)!.gt(0).to_type(ScalarType.Float32);
        var labTe = Load("labels", "test", nte)!.gt(0).to_type(ScalarType.Float32);
        var (conTr, conTe) = (Load("contrast", "train", ntr), Load("contrast", "test", nte));
        var (capTr, capTe) = (Load("captions", "train", ntr), Load("captions", "test", nte));
        var nc = File.Exists(Gt("noise_ceiling")) ? Npy.Read(Gt("noise_ceiling")).ToFloat32() : null;

        var sigTr = noiseFree ? Load("signal", "train", ntr) : null;
        var sigTe = noiseFree ? Load("signal", "test", nte) : null;
        if (noiseFree && (sigTr is null || sigTe is null))
            throw new UserInputException(
                $"{gt}: no noise-free signal files ({sub}_train_signal.npy, {sub}_test_signal.npy)");
        var streams = new JsonObject();
        foreach (var stream in new[] { VoxelStream.Semantic, VoxelStream.Low, VoxelStream.Detail })
        {
            var cols = s.Split.Indices(stream);
            if (cols.Length == 0) continue;
            string streamName = stream.ToString().ToLowerInvariant();
            log?.WriteLine($"ground truth: decoding from the {streamName} stream ({cols.Length} voxels)");
            var row = DecodeAll(s.LoadStream("train", stream), s.LoadStream("test", stream));
            row["voxels"] = cols.Length;
            if (nc is not null) row["noise_ceiling_mean"] = cols.Average(c => (double)nc[c]);
            if (sigTr is not null && sigTe is not null)
            {
                var idx = tensor(cols.Select(c => (long)c).ToArray());
                row["noise_free"] = DecodeAll(sigTr.index_select(1, idx), sigTe.index_select(1, idx));
            }
            streams[stream.ToString().ToLowerInvariant()] = row;
        }

        JsonObject DecodeAll(Tensor train, Tensor test)
        {
            using var z = ZScore.Fit(train);
            var xtr = z.Apply(train);
            var xte = z.Apply(test);
            var (acc, exact) = LabelAccuracy(Decode(xtr, labTr, xte), labTe);
            var row = new JsonObject { ["label_accuracy"] = acc, ["set_accuracy"] = exact };
            if (conTr is not null && conTe is not null) row["contrast_r"] = MeanPearson(Decode(xtr, conTr, xte), conTe);
            if (capTr is not null && capTe is not null)
                row["attribute_r"] = AttributeR(Decode(xtr, capTr, xte), capTe, (int)labTr.shape[1]);
            return row;
        }
        var result = new JsonObject
        {
            ["data"] = Path.GetFullPath(dataRoot),
            ["subject"] = subject,
            ["train"] = ntr,
            ["test"] = nte,
            ["labels"] = labTr.shape[1],
            ["chance"] = Chance(labTr, labTe),
            ["streams"] = streams,
            ["notes"] = "ridge per target set, alpha by 5-fold CV; accuracies on the test split; label = presence of " +
                "each category (count > 0), threshold 0.5; set = all labels of an image right; contrast_r / " +
                "attribute_r: mean Pearson r per column over test images (attributes: images holding the family).",
        };
        result["rsa_ground_truth"] = GroundTruthRsa(s, [("labels", labTe), ("contrast", conTe), ("captions", capTe)]);
        if (features is { } f) result["semantic_target_from_ground_truth"] = SemanticFromTruth(f, labTr, labTe,
            capTr, capTe);
        return result;
    }

    /// <summary>
    /// RSA (as analyze-layers computes it) between each ground-truth description of the test images, taken as if it
    /// were a network layer, and each ROI group: the reference an ideal low-level or semantic layer would reach.
    /// </summary>
    static JsonObject GroundTruthRsa(NsdSubject s, (string Name, Tensor? Value)[] truths)
    {
        var present = truths.Where(t => t.Value is not null).ToArray();
        using var fmri = s.LoadFmri("test");
        var groups = LayerAnalysisRunner.RoiGroupColumns(s.Split)
            .ToDictionary(kv => kv.Key, kv => fmri.index_select(1, tensor(kv.Value.Select(i => (long)i).ToArray())));
        var r = LayerAnalysis.Run(present.Select(t => t.Value!).ToList(), groups, present.Select(t => t.Name).ToList());
        var res = new JsonObject();
        for (int i = 0; i < r.LayerNames.Length; i++)
            res[r.LayerNames[i]] = new JsonObject(r.RoiNames.Select((g, j) => KeyValuePair.Create(g,
                (JsonNode?)r.Rsa[i, j])));
        return res;
    }

    /// <summary>Ridge from x to y (targets standardised for the CV score), predictions for xte in y's units.</summary>
    static Tensor Decode(Tensor xtr, Tensor ytr, Tensor xte)
    {
        var mean = ytr.mean([0], keepdim: true);
        var sd = ytr.std(0, keepdim: true).clamp_min(1e-6);
        var map = Ridge.Fit(xtr, (ytr - mean) / sd, Alphas, Folds, 0);
        return map.Apply(xte) * sd + mean;
    }

    static (double PerLabel, double Set) LabelAccuracy(Tensor pred, Tensor truth)
    {
        var ok = pred.gt(0.5).eq(truth.gt(0.5));
        return (ok.to_type(ScalarType.Float64).mean().item<double>(),
            ok.all(1).to_type(ScalarType.Float64).mean().item<double>());
    }

    /// <summary>Per-label majority vote and the most frequent training label set, scored on the test split.</summary>
    static JsonObject Chance(Tensor labTr, Tensor labTe)
    {
        var majority = labTr.mean([0], keepdim: true).gt(0.5).to_type(ScalarType.Float32).expand_as(labTe);
        var sets = Enumerable.Range(0, (int)labTr.shape[0]).Select(i => SetKey(labTr[i])).GroupBy(k => k)
            .OrderByDescending(g => g.Count()).First().Key;
        double setAcc = Enumerable.Range(0, (int)labTe.shape[0]).Average(i => SetKey(labTe[i]) == sets ? 1.0 : 0.0);
        return new JsonObject
        {
            ["label_accuracy"] = LabelAccuracy(majority, labTe).PerLabel,
            ["set_accuracy"] = setAcc
        };
    }

    static string SetKey(Tensor row) => string.Concat(row.data<float>().ToArray().Select(v => v > 0.5 ? '1' : '0'));

    /// <summary>Mean over columns (with variance) of the Pearson r between prediction and truth.</summary>
    static double MeanPearson(Tensor pred, Tensor truth, Tensor? rows = null)
    {
        if (rows is not null) { pred = pred.index_select(0, rows); truth = truth.index_select(0, rows); }
        var p = pred.to_type(ScalarType.Float64);
        var y = truth.to_type(ScalarType.Float64);
        p = p - p.mean([0], keepdim: true);
        y = y - y.mean([0], keepdim: true);
        var den = (p.square().sum([0]) * y.square().sum([0])).sqrt();
        var valid = den.gt(1e-12);
        if (!valid.any().item<bool>()) return double.NaN;
        return ((p * y).sum([0]) / den.clamp_min(1e-12)).masked_select(valid).mean().item<double>();
    }

    /// <summary>
    /// Caption attribute columns (after the K family flags), each over the test images holding its family.
    /// </summary>
    static double AttributeR(Tensor pred, Tensor truth, int families)
    {
        int perFamily = (int)(truth.shape[1] - families) / families;
        var rs = new List<double>();
        for (int f = 0; f < families; f++)
        {
            var rows = truth[.., f].gt(0.5).nonzero().squeeze(1);
            if (rows.shape[0] < 3) continue;
            var cols = arange(families + f * perFamily, families + (f + 1) * perFamily);
            double r = MeanPearson(pred.index_select(1, cols), truth.index_select(1, cols), rows);
            if (!double.IsNaN(r)) rs.Add(r);
        }
        return rs.Count == 0 ? double.NaN : rs.Average();
    }

    /// <summary>
    /// Top-1 retrieval of CLIP-Semantic (test) from ridge predictions made from the true labels/captions.
    /// </summary>
    static JsonObject SemanticFromTruth((string Train, string Test) f, Tensor labTr, Tensor labTe, Tensor? capTr,
        Tensor? capTe)
    {
        var ytr = FeatureFile.Read(f.Train, FeatureFile.Semantic).to_type(ScalarType.Float32).flatten(1);
        var yte = FeatureFile.Read(f.Test, FeatureFile.Semantic).to_type(ScalarType.Float32).flatten(1);
        if (ytr.shape[0] != labTr.shape[0] || yte.shape[0] != labTe.shape[0])
            throw new UserInputException(
                $"{f.Train} / {f.Test}: {ytr.shape[0]} / {yte.shape[0]} rows, but the subject " +
                                         $"has {labTr.shape[0]} training and {labTe.shape[0]} test images");
        var res = new JsonObject();
        var inputs = new List<(string, Tensor, Tensor)> { ("labels", labTr, labTe) };
        if (capTr is not null && capTe is not null) inputs.Add(("captions", capTr, capTe));
        foreach (var (name, xtr, xte) in inputs)
        {
            var map = Ridge.Fit(xtr, ytr, Alphas, Folds, 0);
            var r = Retrieval.Compute(map.Apply(xte), yte);
            res[name] = new JsonObject
            {
                ["image_to_brain_top1"] = r.ImageToBrainTop1,
                ["brain_to_image_top1"] = r.BrainToImageTop1,
                ["batch"] = r.Batch,
                ["chance"] = 1.0 / r.Batch,
                ["alpha"] = map.Alpha,
            };
        }
        // How much the targets share: mean cosine between different test images' semantic targets.
        var y = nn.functional.normalize(yte.to_type(ScalarType.Float64), dim: -1);
        long n = y.shape[0];
        var sum = y.sum([0]);
        res["target_mean_cosine"] = ((sum.dot(sum) - n) / (n * (n - 1.0))).item<double>();
        return res;
    }
}
