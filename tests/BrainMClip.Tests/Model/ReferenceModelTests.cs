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

    [Fact]
    public void LayerCounterCountsLinearAndLayerNormLikePyTorch()
    {
        Assert.Equal(12 * 7 + 7, LayerCount.Linear(12, 7));
        Assert.Equal(12 * 7, LayerCount.Linear(12, 7, bias: false));
        Assert.Equal(10, LayerCount.LayerNorm(5));
    }
}
