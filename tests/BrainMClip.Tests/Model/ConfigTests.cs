using BrainMClip.Model;
using Xunit;

namespace BrainMClip.Tests.Model;

public class ConfigTests
{
    [Fact]
    public void PresetsCarryTheSpecDefaults()
    {
        var p = BrainMClipConfig.Preset("paper");
        Assert.Equal((2048, 4, 64, "low_rank"), (p.Model.Hidden, p.Model.Blocks, p.Model.Rank, p.Model.Head));
        Assert.Equal((257, 1024, 768), (p.Model.Tokens, p.Model.DetailWidth, p.Model.SemanticWidth));
        Assert.Equal((0.5, 0.15), (p.Model.DropoutInput, p.Model.DropoutBlocks));
        Assert.Equal((1.0, 1.0, 10000.0, 1.0, 1.0, 1.0, 0.005),
            (p.Loss.WDetail, p.Loss.WSemantic, p.Loss.Alpha, p.Loss.Beta, p.Loss.WRec, p.Loss.WCross,
                p.Loss.Temperature));
        Assert.Equal(0.25, p.Fusion.Lambda);
        Assert.Equal((50, 3e-4, 0.01, 1.0, 100.0),
            (p.Training.BatchSize, p.Training.MaxLr, p.Training.WeightDecay, p.Training.GradClip,
            p.Training.FinalDivFactor));
        Assert.Equal(2.0 / 200, p.PctStart, 12);
        Assert.True(BrainMClipConfig.Preset("ridge").IsRidge);
        Assert.Equal("tiny", BrainMClipConfig.Preset("tiny").Name);
    }

    [Fact]
    public void UnknownFieldIsRejectedByName()
    {
        var e = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse("""{"model": {"hiden": 3}}""", "x.json"));
        Assert.Contains("hiden", e.Message);
        Assert.Contains("x.json", e.Message);
    }

    [Theory]
    [InlineData("""{"model": {"dropout_input": 1.5}}""", "model.dropout_input")]
    [InlineData("""{"training": {"batch_size": 1}}""", "training.batch_size")]
    [InlineData("""{"model": {"head": "diag"}}""", "model.head")]
    [InlineData("""{"loss": {"temperature": 0}}""", "loss.temperature")]
    [InlineData("""{"fusion": {"lambda": 2}}""", "fusion.lambda")]
    [InlineData("""{"ablation": {"semantic_only": true, "detail_only": true}}""", "ablation.semantic_only")]
    [InlineData("""{"model": {"hidden": "big"}}""", "model.hidden")]
    public void OutOfRangeValuesNameTheField(string json, string field)
    {
        var e = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(json, "c.json"));
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void UserFileOverridesABasePresetAndRoundTrips()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "c.json");
        File.WriteAllText(path, """{"base": "tiny", "training": {"epochs": 7}, "ablation": {"no_cross": true}}""");
        var c = BrainMClipConfig.Resolve(path);
        Assert.Equal(7, c.Training.Epochs);
        Assert.Equal(BrainMClipConfig.Preset("tiny").Model, c.Model);
        Assert.True(c.Ablation.NoCross);
        Assert.False(c.UsesCross);
        var again = BrainMClipConfig.Parse(c.ToJson(), "roundtrip");
        Assert.Equal(c.ToJson(), again.ToJson());
        Assert.Contains("\"w_cross\"", c.ToJson());
    }

    [Fact]
    public void TinyReconIsTinyWithItsDetailStreamTrainedForReconstruction()
    {
        var tiny = BrainMClipConfig.Preset("tiny");
        var recon = BrainMClipConfig.Preset("tiny-recon");
        Assert.Equal("tiny-recon", recon.Name);
        Assert.Equal((0.0, 300000.0), (recon.Model.DropoutDetail, recon.Loss.AlphaDetail));
        Assert.Equal((null, null), (tiny.Model.DropoutDetail, tiny.Loss.AlphaDetail));
        // Everything else is tiny's, the semantic stream's recipe included.
        Assert.Equal(tiny.Model with { DropoutDetail = 0.0 }, recon.Model);
        Assert.Equal(tiny.Loss with { AlphaDetail = 300000.0 }, recon.Loss);
        Assert.Equal(tiny.Training, recon.Training);
        // A user file can start from it (a preset whose own base is a preset).
        var user = BrainMClipConfig.Parse("""{"base": "tiny-recon", "training": {"epochs": 3}}""", "u.json");
        Assert.Equal((3, 300000.0), (user.Training.Epochs, user.Loss.AlphaDetail));
    }

    [Theory]
    [InlineData("""{"model": {"dropout_detail": 1}}""", "model.dropout_detail")]
    [InlineData("""{"loss": {"alpha_detail": -1}}""", "loss.alpha_detail")]
    public void PerStreamDetailSettingsAreValidated(string json, string field)
    {
        var e = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(json, "c.json"));
        Assert.Contains(field, e.Message);
    }
}
