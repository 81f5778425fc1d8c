using BrainMClip.Model;
using Xunit;

namespace BrainMClip.Tests.Model;

/// <summary>The reference counts `params` prints are recomputed from layer shapes by the counter ours use.</summary>
public class ReferenceModelTests
{
    [Fact]
    public void ReferenceTotalsFromLayerShapesMatchTheRecordedCounts()
    {
        // Counts recorded when the references were first computed from the authors' code (MindEye1 voxel2clip and
        // MindBridge single subject); MindEye2 without prior and blurry pathway, from its BrainNetwork shapes.
        Assert.Equal(947_579_904, ReferenceModels.MindEye1().Total);
        Assert.Equal(ParameterCounts.MindEye1, ReferenceModels.MindEye1().Total);
        Assert.Equal(561_283_712, ReferenceModels.MindBridge().Total);
        Assert.Equal(ParameterCounts.MindBridge, ReferenceModels.MindBridge().Total);
        Assert.Equal(1_952_271_000, ReferenceModels.MindEye2().Total);
        // Adapter of MindBridge: Linear(8192→128) + Linear(128→8192).
        Assert.Equal(2_105_472, ReferenceModels.MindBridge().Modules["adapter"]);
    }

    /// <summary>
    /// MindEye1 and MindBridge at the demo's sizes (1,508 detail voxels, 65 tokens × 64: `tiny-recon` on the synthetic
    /// subject), counted by hand from their layer shapes (weights + biases; LayerNorm 2·n) — not with LayerCount.
    /// </summary>
    [Fact]
    public void ReferencesAtTheDemosSizesMatchHandCounts()
    {
        var demo = ReferenceSizes.Of(1508, 65, 64);
        // MindEye1: lin0 1508·4096 + 4096 + LN 8192 = 6,189,056; 4 blocks × (4096² + 4096 + 8192) = 67,158,016;
        // lin1 4096·4160 + 4160 = 17,043,520; projector LN 128 + (64·2048 + 2048) + LN 4096 + (2048² + 2048)
        // + LN 4096 + (2048·64 + 64) = 4,468,928.
        var me1 = ReferenceModels.MindEye1(demo);
        Assert.Equal(6_189_056, me1.Modules["lin0"]);
        Assert.Equal(67_158_016, me1.Modules["residual_blocks"]);
        Assert.Equal(17_043_520, me1.Modules["lin1"]);
        Assert.Equal(4_468_928, me1.Modules["projector"]);
        Assert.Equal(94_859_520, me1.Total);
        // MindBridge: pool min(8192, 1508) = 1508; adapter (1508·128 + 128) + (128·1508 + 1508) = 387,684; embedder
        // 1508·2048 + 2048 + LN 4096 = 3,094,528; translator 4 × (2048² + 2048 + 4096) = 16,801,792; image head
        // 2048·4160 + 4160 = 8,523,840; no text head (the demo has no text target).
        var mb = ReferenceModels.MindBridge(demo);
        Assert.Equal(387_684, mb.Modules["adapter"]);
        Assert.Equal(3_094_528, mb.Modules["embedder"]);
        Assert.Equal(16_801_792, mb.Modules["translator"]);
        Assert.Equal(8_523_840, mb.Modules["head_image"]);
        Assert.False(mb.Modules.ContainsKey("head_text"));
        Assert.Equal(28_807_844, mb.Total);
        // At NSD subject 1's sizes the parameterised counts are the published ones.
        Assert.Equal(ParameterCounts.MindEye1, ReferenceModels.MindEye1(ReferenceSizes.NsdSubject1).Total);
        Assert.Equal(ParameterCounts.MindBridge, ReferenceModels.MindBridge(ReferenceSizes.NsdSubject1).Total);
    }

    /// <summary>Summarize compares a configuration with the references at its own sizes; the paper preset at
    /// 15,724 voxels gets the published counts, the demo's tiny-recon the demo-sized ones.</summary>
    [Fact]
    public void SummaryReferencesAreAtTheConfigurationsSizes()
    {
        var paper = ParameterCounts.Summarize("paper", 15724, 4500);
        Assert.Same(ReferenceSizes.NsdSubject1, paper.Sizes);
        Assert.Equal(ParameterCounts.MindEye1, paper.References.Single(r => r.Key == "mindeye1").Total);
        var demo = ParameterCounts.Summarize("tiny-recon", 1508, 554);
        Assert.Equal((1508L, 65L, 64L), (demo.Sizes.Voxels, demo.Sizes.Tokens, demo.Sizes.Width));
        Assert.Equal(94_859_520, demo.References.Single(r => r.Key == "mindeye1").Total);
        Assert.Equal(ParameterCounts.MindEye1, demo.Published.Single(r => r.Key == "mindeye1").Total);
    }

    [Fact]
    public void LayerCounterCountsLinearAndLayerNormLikePyTorch()
    {
        Assert.Equal(12 * 7 + 7, LayerCount.Linear(12, 7));
        Assert.Equal(12 * 7, LayerCount.Linear(12, 7, bias: false));
        Assert.Equal(10, LayerCount.LayerNorm(5));
    }
}
