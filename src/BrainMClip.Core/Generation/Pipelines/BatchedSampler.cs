using System.Text.Json.Nodes;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// The sampling loop of <c>reconstruct</c>: the (test image, candidate) samples in order, <see
/// cref="ReconstructOptions.Batch"/> of them per <see cref="ImageVariationPipeline.GenerateEach"/> call; an image is
/// scored, written and reported as soon as its last candidate is done, so --resume keeps working per image.
/// </summary>
sealed class BatchedSampler(ReconstructOptions o, ImageVariationPipeline pipe, ICandidateScorer? scorer, Tensor cond,
    Tensor semantic, Device device, ProgressBar bar, int end)
{
    /// <param name="images">Test indices to render, ascending.</param>
    /// <param name="done">Called per finished image with its manifest entry, in order.</param>
    public void Run(IReadOnlyList<int> images, Action<int, JsonObject> done)
    {
        var samples = images.SelectMany(i => Enumerable.Range(0, o.Candidates).Select(k => (Image: i, K: k))).ToList();
        int perCall = Math.Max(1, Math.Min(o.Batch, ImageVariationPipeline.MaxImagesPerCall(o.Guidance)));
        var pending = new Dictionary<int, Tensor[]>();
        try
        {
            for (int start = 0; start < samples.Count; start += perCall)
            {
                var chunk = samples.GetRange(start, Math.Min(perCall, samples.Count - start));
                var made = Generate(chunk);
                for (int j = 0; j < chunk.Count; j++)
                {
                    var (i, k) = chunk[j];
                    if (!pending.TryGetValue(i, out var row)) pending[i] = row = new Tensor[o.Candidates];
                    row[k] = made[j];
                    if (k != o.Candidates - 1) continue;
                    done(i, Finish(i, row));
                    pending.Remove(i);
                    foreach (var t in row) t.Dispose();
                }
            }
        }
        finally
        {
            foreach (var row in pending.Values) foreach (var t in row) t?.Dispose();
        }
    }

    /// <summary>The images (3, H, W) in [0, 1] of one chunk, on the CPU and outside any dispose scope.</summary>
    Tensor[] Generate(List<(int Image, int K)> chunk)
    {
        using var scope = NewDisposeScope();
        var c = cat(chunk.Select(s => cond.narrow(0, s.Image, 1)).ToList(), 0).to(device);
        var generators = chunk.Select(s => new Generator(Reconstruction.CandidateSeed(o.Seed, s.Image, s.K))).ToList();
        try
        {
            string status = $"image {chunk[^1].Image + 1}/{end}";
            var images = pipe.GenerateEach(c, generators, o.Guidance, o.Steps,
                onProgress: _ => bar.Advance(chunk.Count, status)).cpu();
            return Enumerable.Range(0, chunk.Count).Select(j => images[j].DetachFromDisposeScope()).ToArray();
        }
        finally
        {
            foreach (var g in generators) g.Dispose();
        }
    }

    /// <summary>Best-of-N over one image's candidates, the PNG, and the manifest entry.</summary>
    JsonObject Finish(int i, Tensor[] candidates)
    {
        using var scope = NewDisposeScope();
        var batch = stack(candidates, 0);
        float[] scores = scorer?.Score(batch, semantic[i]) ?? [];
        int best = scores.Length > 0 ? Array.IndexOf(scores, scores.Max()) : 0;
        ImageIO.WritePng(Path.Combine(o.OutDir, Reconstruction.ImageName(i)), Reconstruction.ToRgb(batch[best]));
        return new JsonObject
        {
            ["index"] = i,
            ["file"] = Reconstruction.ImageName(i),
            ["seed"] = Reconstruction.CandidateSeed(o.Seed, i, best),
            ["chosen_candidate"] = best,
            ["candidate_scores"] = scores.Length > 0 ? new JsonArray(scores.Select(x => (JsonNode)(double)x)
                .ToArray()) : null,
        };
    }
}
