using BrainMClip.Model;
using BrainMClip.Training;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Model;

/// <summary>
/// The configurations docs/evidence/preregistration.md froze, by hash: a change to a frozen preset (or to how a
/// configuration is serialised) fails here instead of silently moving the replication's models.
/// </summary>
public class PreregisteredPresetsTests
{
    [Theory]
    [InlineData("tiny", "e36e51efe22cac6bbc93583d864f9aff0158ac085da88e9232c74f59ac400ebb")]
    [InlineData("ridge", "c22ef37fc844a5309820621b45563c9b8c8add1e896b8c347d633e84c983edf7")]
    [InlineData("ridge-retrieval-alpha", "b72db1ef01380460a85d420588c5a7350600357609da4d05737f7a57357f10ee")]
    [InlineData("linear", "a08948da9cd414c739eee7a9dddf2ded25144c2307789ea1f0b371f763327e3b")]
    public void FrozenPresetsKeepTheirHashes(string preset, string sha256) =>
        Assert.Equal(sha256, BrainMClipConfig.Preset(preset).Sha256());

    [Fact]
    public void TheHashSeesEveryField()
    {
        var tiny = BrainMClipConfig.Preset("tiny");
        Assert.NotEqual(tiny.Sha256(), (tiny with { Training = tiny.Training with { Seed = 1 } }).Sha256());
        Assert.NotEqual(tiny.Sha256(), (tiny with { Model = tiny.Model with { Encoder = "linear" } }).Sha256());
        Assert.Equal(tiny.Sha256(), BrainMClipConfig.Parse(tiny.ToJson(), "round trip").Sha256());
    }

    /// <summary>
    /// Inside `study` the baselines are derived from tiny (AblationRunner.VariantConfig); what they train must be what
    /// the presets say: linear = tiny's model, loss and schedule with a linear encoder and no decoders; the retrieval
    /// alpha ridge = ridge with validation-retrieval alpha on tiny's validation split (val_fraction and seed).
    /// </summary>
    [Fact]
    public void StudyVariantsOfTinyTrainWhatThePresetsSay()
    {
        var tiny = BrainMClipConfig.Preset("tiny");
        var linear = AblationRunner.VariantConfig(tiny, "linear");
        var linearPreset = BrainMClipConfig.Preset("linear");
        Assert.Equal(linearPreset.Model, linear.Model);
        Assert.Equal(linearPreset.Loss, linear.Loss);
        Assert.Equal(linearPreset.Training, linear.Training);
        Assert.Equal("linear", linear.Model.Encoder);
        Assert.False(linear.UsesRec || linear.UsesCross);

        var ridge = AblationRunner.VariantConfig(tiny, "ridge_retrieval_alpha");
        var ridgePreset = BrainMClipConfig.Preset("ridge-retrieval-alpha");
        Assert.True(ridge.IsRidge && ridgePreset.IsRidge);
        Assert.Equal(ridgePreset.Ridge.Alphas, ridge.Ridge.Alphas);
        Assert.Equal(ridgePreset.Ridge with { Alphas = [] }, ridge.Ridge with { Alphas = [] });
        Assert.Equal(ridgePreset.Training.ValFraction, ridge.Training.ValFraction);
        Assert.Equal(ridgePreset.Training.Seed, ridge.Training.Seed);
    }

    [Fact]
    public void EveryPresetResourceParses()
    {
        foreach (var name in BrainMClipConfig.PresetNames) Assert.Equal(name, BrainMClipConfig.Preset(name).Name);
        Assert.Throws<UserInputException>(() => BrainMClipConfig.Preset("nope"));
    }

    [Fact]
    public void TheLinearEncoderIsOneAffineMapOfTheVoxels()
    {
        var cfg = BrainMClipConfig.Preset("linear");
        using var net = new BrainMClipNet(cfg, 12, 7);
        using var g = new Generator(5);
        net.Initialize(g);
        net.eval();
        var fD = randn(4, 12, generator: g); var fS = randn(4, 7, generator: g);
        var o = net.Forward(fD, fS);
        // Reference in float64 from the head's own weights: tokens = x·Wᵀ + b, reshaped (B, T, C).
        var p = net.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.to_type(ScalarType.Float64));
        var refS = fS.to_type(ScalarType.Float64).mm(p["encoder_semantic.head.proj.weight"].t())
            + p["encoder_semantic.head.proj.bias"];
        Assert.True(o.Semantic!.flatten(1).to_type(ScalarType.Float64).allclose(refS, rtol: 1e-5, atol: 1e-6));
        Assert.DoesNotContain(net.named_parameters(), kv => kv.name.Contains("input") || kv.name.Contains("decoder"));
        var analytic = ParameterCounts.Compute(cfg, 12, 7).ToDictionary(m => m.Name, m => m.Parameters);
        Assert.Equal(analytic.OrderBy(k => k.Key), net.ParameterCountsByModule().OrderBy(k => k.Key));
    }

    [Fact]
    public void TheLinearEncoderRefusesReconstructionLosses()
    {
        var e = Assert.Throws<UserInputException>(() => BrainMClipConfig.Parse(
            """{"base": "linear", "loss": {"w_rec": 1}}""", "x.json"));
        Assert.Contains("model.encoder", e.Message);
    }
}
