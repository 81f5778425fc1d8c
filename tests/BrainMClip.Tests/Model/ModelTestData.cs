using BrainMClip.Model;
using BrainMClip.Training;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

/// <summary>
/// A small linear-ish synthetic decoding problem: a latent z per sample drives both voxel sets (plus noise) and
/// both token targets (through a tanh), so fMRI → tokens is learnable and retrieval well above chance is possible.
/// </summary>
public static class ModelTestData
{
    public sealed record Problem(Tensor TrainDetail, Tensor TrainSemantic, Tensor TrainED, Tensor TrainES,
        Tensor TestDetail, Tensor TestSemantic, Tensor TestED, Tensor TestES);

    public static Problem Make(int nTrain, int nTest, int vD = 40, int vS = 24, int t = 3, int cD = 8, int cS = 6,
        int latent = 10, double noise = 0.3, long seed = 123)
    {
        using var g = new Generator((ulong)seed);
        var a = randn(latent, vD, generator: g);
        var b = randn(latent, vS, generator: g);
        var c = randn(latent, t * cD, generator: g) / Math.Sqrt(latent);
        var d = randn(latent, t * cS, generator: g) / Math.Sqrt(latent);
        (Tensor, Tensor, Tensor, Tensor) Split(int n)
        {
            var z = randn(n, latent, generator: g);
            var fD = z.mm(a) + noise * randn(n, vD, generator: g) * Math.Sqrt(latent);
            var fS = z.mm(b) + noise * randn(n, vS, generator: g) * Math.Sqrt(latent);
            var eD = z.mm(c).tanh().reshape(n, t, cD);
            var eS = (z.mm(d).tanh() + 0.1).reshape(n, t, cS);
            return (fD, fS, eD, eS);
        }
        var tr = Split(nTrain);
        var te = Split(nTest);
        // z-score with training statistics, as the data layer does.
        Tensor Z(Tensor x, Tensor train) => (x - train.mean([0], keepdim: true)) / train.std(0, keepdim: true);
        return new Problem(Z(tr.Item1, tr.Item1), Z(tr.Item2, tr.Item2), tr.Item3, tr.Item4,
            Z(te.Item1, tr.Item1), Z(te.Item2, tr.Item2), te.Item3, te.Item4);
    }

    public static TrainingData Training(Problem p) =>
        new(p.TrainDetail, p.TrainSemantic, new FeatureStore(p.TrainED, p.TrainES));

    /// <summary>A very small network config for fast tests.</summary>
    public static BrainMClipConfig Tiny(int epochs = 3, int batch = 20, long seed = 0, double valFraction = 0.2) =>
        BrainMClipConfig.Parse($$"""
        {
          "base": "tiny",
          "model": { "tokens": 17, "detail_width": 64, "semantic_width": 32, "hidden": 32, "blocks": 1, "rank": 4 },
          "training": { "epochs": {{epochs}}, "batch_size": {{batch}}, "seed": {{seed}}, "val_fraction": {{valFraction}} }
        }
        """, "test config");
}
