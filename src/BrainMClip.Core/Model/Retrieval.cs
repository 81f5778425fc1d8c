using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Model;

/// <summary>Top-1 retrieval in both directions, averaged over loops (docs/evaluation.md).</summary>
public sealed record RetrievalResult(double ImageToBrainTop1, double BrainToImageTop1, int Loops, int Batch)
{
    /// <summary>The figures as JSON (retrieve's output, one row of the ablation table).</summary>
    public JsonObject ToJson() => new()
    {
        ["image_to_brain_top1"] = ImageToBrainTop1,
        ["brain_to_image_top1"] = BrainToImageTop1,
        ["loops"] = Loops,
        ["batch"] = Batch,
    };
}

/// <summary>
/// Retrieval (MindEye protocol, docs/evaluation.md): each loop draws <c>batch</c> test samples without replacement
/// (seeded), flattens and L2-normalises predictions and ground truth, builds the cosine matrix and counts how often the
/// matching partner is the most similar one, image→brain (per image, over predictions) and brain→image (per prediction,
/// over images); results are averaged over loops. With fewer samples than <c>batch</c> a single loop uses all of them
/// (further loops would repeat it exactly).
/// </summary>
public static class Retrieval
{
    public static RetrievalResult Compute(Tensor predictions, Tensor truth, int loops = 30, int batch = 300,
        long seed = 42) =>
        Run(predictions, truth, loops, batch, seed).Result;

    /// <summary>
    /// Per test sample: the fraction of the loops that drew it in which its image found its prediction (image→brain)
    /// and its prediction found its image (brain→image); NaN for a sample no loop drew. Two models scored with the
    /// same seed see the same draws, so their per-sample hits are paired (for a bootstrap over test images).
    /// </summary>
    public static PerSampleRetrieval PerSample(Tensor predictions, Tensor truth, int loops = 30, int batch = 300,
        long seed = 42) =>
        Run(predictions, truth, loops, batch, seed).PerSample;

    static (RetrievalResult Result, PerSampleRetrieval PerSample) Run(Tensor predictions, Tensor truth, int loops,
        int batch, long seed)
    {
        UserInputException.Require(loops >= 1, "Loops", $"retrieval loops must be at least 1 (got {loops})");
        UserInputException.Require(batch >= 2, "Batch", $"retrieval samples per loop must be at least 2 (got {batch})");
        if (predictions.shape[0] != truth.shape[0])
            throw new UserInputException(
                $"retrieval: {predictions.shape[0]} predictions but {truth.shape[0]} ground-truth rows");
        if (predictions.shape.Skip(1).Aggregate(1L, (a, b) => a * b) != truth.shape.Skip(1)
            .Aggregate(1L, (a, b) => a * b))
            throw new UserInputException(
                $"retrieval: prediction shape [{string.Join(",", predictions.shape)}] and ground-truth shape " +
                    $"[{string.Join(",", truth.shape)}] differ");
        long n = predictions.shape[0];
        if (n < 2) throw new UserInputException($"retrieval: need at least 2 samples, got {n}");

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var p = F.normalize(predictions.flatten(1).to_type(ScalarType.Float32), dim: -1);
        var y = F.normalize(truth.flatten(1).to_type(ScalarType.Float32), dim: -1);
        int size = (int)Math.Min(batch, n);
        int nLoops = n <= batch ? 1 : loops;
        using var gen = new Generator((ulong)seed);
        double i2b = 0, b2i = 0;
        var hitsI2b = new double[n]; var hitsB2i = new double[n]; var drawn = new double[n];
        for (int loop = 0; loop < nLoops; loop++)
        {
            using var inner = NewDisposeScope();
            var idx = n <= batch ? arange(n) : randperm(n, generator: gen).narrow(0, 0, size);
            var ps = p.index_select(0, idx);
            var ys = y.index_select(0, idx);
            var sim = F.linear(ys, ps);                 // sim[i, j] = cos(image i, prediction j)
            var diag = arange(size);
            var hitI = sim.argmax(1).eq(diag).to_type(ScalarType.Float64);
            var hitB = sim.argmax(0).eq(diag).to_type(ScalarType.Float64);
            i2b += hitI.mean().item<double>();
            b2i += hitB.mean().item<double>();
            var rows = idx.data<long>().ToArray();
            var hi = hitI.data<double>().ToArray(); var hb = hitB.data<double>().ToArray();
            for (int k = 0; k < rows.Length; k++)
            { hitsI2b[rows[k]] += hi[k]; hitsB2i[rows[k]] += hb[k]; drawn[rows[k]]++; }
        }
        double[] Rate(double[] hits) => hits.Select((h, i) => drawn[i] > 0 ? h / drawn[i] : double.NaN).ToArray();
        return (new RetrievalResult(i2b / nLoops, b2i / nLoops, nLoops, size),
            new PerSampleRetrieval(Rate(hitsI2b), Rate(hitsB2i)));
    }
}

/// <summary>Per-sample hit rates of <see cref="Retrieval.PerSample"/> (NaN where a sample was never drawn).</summary>
public sealed record PerSampleRetrieval(double[] ImageToBrain, double[] BrainToImage);
