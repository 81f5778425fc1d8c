using BrainMClip.Tests.Model;
using BrainMClip.Model;
using BrainMClip.Training;
using Xunit;
using Xunit.Abstractions;

namespace BrainMClip.Tests.Training;

/// <summary>
/// Issue 4's claim on a simulator other than `synth` (<see cref="ModelTestData"/>: a latent drives the voxels linearly
/// and the tokens through a tanh): the tiny preset, trained exactly as `train --config tiny` does, retrieves at least
/// as well as the ridge baseline fitted on the same rows, on the semantic stream in both directions.
/// </summary>
public class TinyVersusRidgeTests(ITestOutputHelper output)
{
    static readonly TrainOptions Quiet = new() { Log = null, ProgressBar = false };

    [Fact]
    public void TinyPresetRetrievesAtLeastAsWellAsRidge()
    {
        // Noise 2: ridge finds about half of the test images among 100 (chance 0.01), so both can still improve.
        var p = ModelTestData.Make(300, 200, vD: 120, vS: 60, t: 4, cD: 16, cS: 12, latent: 12, noise: 2.0, seed: 11);
        var data = ModelTestData.Training(p);
        using var tinyDir = new TempDir();
        using var ridgeDir = new TempDir();
        Trainer.Train(BrainMClipConfig.Preset("tiny"), data, tinyDir.Path, Quiet);
        RidgeBaseline.Train(BrainMClipConfig.Preset("ridge"), data, ridgeDir.Path);
        RetrievalResult Score(string dir)
        {
            using var predictor = Predictor.Open(dir);
            using var pred = predictor.Predict(p.TestDetail, p.TestSemantic);
            return Retrieval.Compute(pred.Semantic!, p.TestES, loops: 30, batch: 100, seed: 0);
        }
        var tiny = Score(tinyDir.Path);
        var ridge = Score(ridgeDir.Path);
        output.WriteLine($"tiny {tiny}  ridge {ridge}");
        Assert.True(tiny.ImageToBrainTop1 >= ridge.ImageToBrainTop1, $"image→brain: tiny {tiny} vs ridge {ridge}");
        Assert.True(tiny.BrainToImageTop1 >= ridge.BrainToImageTop1, $"brain→image: tiny {tiny} vs ridge {ridge}");
    }
}
