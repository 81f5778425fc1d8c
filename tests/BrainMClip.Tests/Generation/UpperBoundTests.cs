using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Generation;

public class UpperBoundTests
{
    [Fact]
    public void TruthFeaturesRenderTheTrueTokensWithTheSameSeedsAndSampler()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var g = new Generator(2);
        string stim = Path.Combine(tmp.Path, "stim.npy"), feat = Path.Combine(tmp.Path, "feat.safetensors");
        Npy.WriteUInt8(stim, [4, 20, 20, 3],
            randint(0, 256, [4, 20, 20, 3], dtype: ScalarType.Byte, generator: g).data<byte>().ToArray());
        // True features as 'features' writes them: every token divided by the CLS token's norm.
        var sem = randn([4, 3, 8], generator: g);
        sem = sem / sem[.., 0..1, ..].norm(-1, true);
        SafeTensors.Save(feat, new Dictionary<string, Tensor> { ["semantic"] = sem });
        string gen = Path.Combine(tmp.Path, "gen");
        PixelGeneratorTrainer.Train(new PixelGeneratorOptions
        {
            ImagesPath = stim,
            FeaturesPath = feat,
            OutDir = gen,
            Steps = 2,
            BatchSize = 2,
            Size = 32,
        }, TextWriter.Null);
        string pred = Path.Combine(tmp.Path, "pred.safetensors");
        SafeTensors.Save(pred, new Dictionary<string, Tensor>
        {
            ["semantic"] = randn([4, 3, 8], generator: g),
            ["detail_projected"] = randn([4, 3, 8], generator: g),
        });
        var o = new ReconstructOptions
        { PredPath = pred, GeneratorPath = gen, OutDir = Path.Combine(tmp.Path, "recon"), Steps = 2, Seed = 5 };
        var r = UpperBound.Run(o, feat);
        Assert.Equal(4, r.Written);

        // Reference: a prediction that IS the true tokens, unfused (λ = 0), rendered by the ordinary path.
        string perfect = Path.Combine(tmp.Path, "perfect.safetensors");
        SafeTensors.Save(perfect, new Dictionary<string, Tensor> { ["semantic"] = sem });
        Reconstruction.Run(o with { PredPath = perfect, Fusion = 0, OutDir = Path.Combine(tmp.Path, "perfect") });
        for (int i = 0; i < 4; i++)
        {
            string name = Reconstruction.ImageName(i);
            var a = File.ReadAllBytes(Path.Combine(tmp.Path, "recon", UpperBound.FolderName, name));
            Assert.Equal(File.ReadAllBytes(Path.Combine(tmp.Path, "perfect", name)), a);
        }
        Assert.Contains("upper bound",
            File.ReadAllText(Path.Combine(tmp.Path, "recon", UpperBound.FolderName, "reconstruct.json")));

        // Features of other images (another count) are refused, naming the file.
        string wrong = Path.Combine(tmp.Path, "wrong.safetensors");
        SafeTensors.Save(wrong, new Dictionary<string, Tensor> { ["semantic"] = sem[0..3] });
        var e = Assert.Throws<UserInputException>(() => UpperBound.Run(o, wrong));
        Assert.Contains("wrong.safetensors", e.Message);
    }
}
