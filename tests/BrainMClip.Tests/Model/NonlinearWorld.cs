using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

/// <summary>
/// A small simulated subject in which the voxel → CLIP-target map is nonlinear, so a network can learn what a
/// linear map cannot (unlike <see cref="ModelTestData"/>, where ridge is near the best possible decoder).
/// Each image has a continuous semantic latent z (k dims) and a low-level latent u; its category is
/// argmax(z·W) over K categories. Semantic voxels form category areas: each voxel belongs to one category's area
/// and responds with a saturating sigmoid to that category's score z·W_c, plus a shared (per-image, all-voxel)
/// fluctuation and independent noise. Semantic targets are the category's prototype tokens plus an
/// instance part tanh(z·M) — one-hot of an argmax, which no linear readout of the voxels reproduces. Detail voxels
/// respond linearly to u (retinotopic-like) and the detail targets are tanh(u·C), as in a low-level area.
/// </summary>
public static class NonlinearWorld
{
    public static ModelTestData.Problem Make(int nTrain, int nTest, int voxelsDetail = 60, int voxelsSemantic = 120,
        int tokens = 4, int widthDetail = 16, int widthSemantic = 12, int latent = 6, int categories = 6,
        double noise = 0.5, double sharedNoise = 0.5, double instance = 0.5, double gainScale = 1,
            double thresholdScale = 1,
        long seed = 7)
    {
        using var g = new Generator((ulong)seed);
        var w = randn(latent, categories, generator: g);
        var area = randint(categories, [voxelsSemantic], generator: g);          // each voxel's category area
        var gain = (rand(voxelsSemantic, generator: g) * 2 + 1) * gainScale;
        var threshold = (randn(voxelsSemantic, generator: g) * 0.5 + 1) * thresholdScale;
        var loading = rand(voxelsSemantic, generator: g);                       // shared-fluctuation loading
        var prototypes = randn(categories, tokens * widthSemantic, generator: g);
        var m = randn(latent, tokens * widthSemantic, generator: g) / Math.Sqrt(latent);
        var a = randn(latent, voxelsDetail, generator: g);
        var c = randn(latent, tokens * widthDetail, generator: g) / Math.Sqrt(latent);
        (Tensor fD, Tensor fS, Tensor eD, Tensor eS) Split(int n)
        {
            var z = randn(n, latent, generator: g);
            var u = randn(n, latent, generator: g);
            var score = z.mm(w);                                                   // (n, K)
            var category = score.argmax(1);
            var shared = randn(n, 1, generator: g) * sharedNoise;
            var drive = score.index_select(1, area);                               // (n, V_S): own category's score
            var fS = (gain * (drive - threshold)).sigmoid() + shared * loading
                + noise * randn(n, voxelsSemantic, generator: g);
            var fD = u.mm(a) / Math.Sqrt(latent) + shared + noise * randn(n, voxelsDetail, generator: g);
            var eS = prototypes.index_select(0, category) + instance * z.mm(m).tanh();
            var eD = u.mm(c).tanh();
            return (fD, fS, eD.reshape(n, tokens, widthDetail), eS.reshape(n, tokens, widthSemantic));
        }
        var tr = Split(nTrain);
        var te = Split(nTest);
        Tensor Z(Tensor x, Tensor train) => (x - train.mean([0], keepdim: true)) / train.std(0, keepdim: true);
        return new ModelTestData.Problem(Z(tr.fD, tr.fD), Z(tr.fS, tr.fS), tr.eD, tr.eS,
            Z(te.fD, tr.fD), Z(te.fS, tr.fS), te.eD, te.eS);
    }
}
