using BrainMClip.Numerics;
using TorchSharp;
using Xunit;

namespace BrainMClip.Tests.Numerics;

/// <summary>
/// Building a RoutedConv2d must leave only its own weight and bias alive: stray handles from the throw-away
/// nn.Conv2d it initialises from kept a second copy of every convolution's weights until a GC (issue 17).
/// </summary>
public class RoutedConv2dMemoryTests
{
    [Fact]
    public void ConstructionLeavesOnlyItsParametersAlive()
    {
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var conv = new RoutedConv2d(8, 16, 3, padding: 1))
            Assert.Equal(before + 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
