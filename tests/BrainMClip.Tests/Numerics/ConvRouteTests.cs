using BrainMClip.Numerics;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Tests.Numerics;

/// <summary>
/// Issue 12's fault class through the project's own convolution module (<see cref="RoutedConv2d"/>) against float64:
/// forward with channel tails, backward with 3 output channels, bf16 with 4. The process route must always be right
/// (this is what fails on an affected CPU without the fix); every forced route must be right or be caught by the probe.
/// </summary>
[Collection("Console")]
public class ConvRouteTests
{
    public static TheoryData<string, ConvRoute?> Cases()
    {
        var d = new TheoryData<string, ConvRoute?>();
        foreach (var c in ConvProbeCase.FaultClass)
        {
            d.Add(c.Name, null);
            foreach (var r in Enum.GetValues<ConvRoute>()) d.Add(c.Name, r);
        }
        return d;
    }

    /// <summary>Forward, input gradient and weight gradient of one module call, relative to float64.</summary>
    static double ModuleError(ConvProbeCase c, ConvRoute? route, long seed)
    {
        using var scope = NewDisposeScope();
        using var gen = new Generator((ulong)seed);
        var conv = new RoutedConv2d(c.In, c.Out, 3, padding: 1, route: route);
        conv.to(c.Dtype);
        var x64 = randn([2, c.In, 16, 16], dtype: ScalarType.Float64, generator: gen);
        var g64 = randn([2, c.Out, 16, 16], dtype: ScalarType.Float64, generator: gen);
        var x = x64.to_type(c.Dtype).requires_grad_();
        var y = conv.forward(x);
        Assert.Equal(c.Dtype, y.dtype);
        var xr = x.detach().to_type(ScalarType.Float64).requires_grad_();
        var wr = conv.weight.detach().to_type(ScalarType.Float64).requires_grad_();
        var yr = F.conv2d(xr, wr, conv.bias!.detach().to_type(ScalarType.Float64), padding: [1]);
        double err = ConvProbe.RelError(y, yr);
        (y * g64.to_type(c.Dtype)).sum().backward();
        (yr * g64).sum().backward();
        if (c.Dtype != ScalarType.Float32) return err;
        return Math.Max(err,
            Math.Max(ConvProbe.RelError(x.grad!, xr.grad!), ConvProbe.RelError(conv.weight.grad!, wr.grad!)));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ConvolutionMatchesFloat64(string name, ConvRoute? route)
    {
        var c = ConvProbeCase.FaultClass.Single(p => p.Name == name);
        bool off = route == ConvRoute.OneDnnOff && LibTorchContext.OneDnnEnabled;
        if (off) LibTorchContext.OneDnnEnabled = false;
        double err;
        try { err = Enumerable.Range(0, 3).Max(i => ModuleError(c, route, 100 + i)); }
        finally { if (off) LibTorchContext.OneDnnEnabled = true; }
        if (route is null)
        {
            Assert.True(err <= c.Tolerance, $"{name} on the process route {ConvPolicy.Route}: relative error {err}");
            return;
        }
        if (err <= c.Tolerance) return;
        // A wrong forced route is only acceptable when the probe sees it too, so auto never picks it.
        var probe = ConvProbe.Run(route.Value, [c]);
        Assert.False(probe.Pass, $"{name} via {route}: error {err}, but the probe passed ({probe.WorstError})");
        Assert.NotEqual(route.Value, ConvPolicy.Route);
    }

    [Fact]
    public void ProbeIsSeededAndLeavesTheGlobalRngAlone()
    {
        manual_seed(5);
        var before = randn(4);
        manual_seed(5);
        var a = ConvProbe.Run(ConvRoute.ZeroPad, repeats: 1);
        var after = randn(4);
        Assert.True(before.equal(after).all().item<bool>(), "probing shifted the global random sequence");
        var b = ConvProbe.Run(ConvRoute.ZeroPad, repeats: 1);
        Assert.Equal(a.Results.Select(r => r.Error), b.Results.Select(r => r.Error));
        Assert.Equal(ConvProbeCase.FaultClass.Count, a.Results.Count);
    }

    [Fact]
    public void ProbeDetectsAWrongConvolution()
    {
        // The error measure must be able to fail: NaN is infinitely wrong, a perturbed result is wrong by its size.
        using var scope = NewDisposeScope();
        var r = randn(2, 3, 4, 4, dtype: ScalarType.Float64);
        Assert.Equal(double.PositiveInfinity, ConvProbe.RelError(r.clone().index_put_(float.NaN, 0, 0, 0, 0), r));
        double e = ConvProbe.RelError(r + 0.01 * r.abs().max(), r);
        Assert.InRange(e, 0.0099, 0.0101);
    }

    [Fact]
    public void RoutedConv2dKeepsTheKeysAndInitialisationOfNnConv2d()
    {
        manual_seed(3);
        using var reference = nn.Conv2d(20, 5, 3, padding: 1);
        manual_seed(3);
        using var routed = new RoutedConv2d(20, 5, 3, padding: 1);
        Assert.Equal(reference.state_dict().Keys.Order(), routed.state_dict().Keys.Order());
        Assert.True(reference.weight!.equal(routed.weight).all().item<bool>());
        Assert.True(reference.bias!.equal(routed.bias!).all().item<bool>());
        using var noBias = new RoutedConv2d(16, 16, 1, hasBias: false);
        Assert.Equal(["weight"], noBias.state_dict().Keys);
    }

    [Theory]
    [InlineData(ConvRoute.ZeroPad)]
    [InlineData(ConvRoute.Unfold)]
    public void StridedAndGroupedConvolutionsMatchFloat64(ConvRoute route)
    {
        // Downsample2D (stride 2, padding 0 after an explicit pad), a 7×7 stem and a depthwise (grouped) convolution.
        var shapes = new[] { (24L, 24L, 3L, 2L, 0L, 1L), (3L, 64L, 7L, 2L, 3L, 1L), (40L, 40L, 5L, 1L, 2L, 40L) };
        foreach (var (cin, cout, k, s, p, g) in shapes)
        {
            using var scope = NewDisposeScope();
            var conv = new RoutedConv2d(cin, cout, k, s, p, g, route: route);
            var x = randn(2, cin, 15, 15);
            var y = conv.forward(x);
            var yr = F.conv2d(x.to_type(ScalarType.Float64), conv.weight.detach().to_type(ScalarType.Float64),
                conv.bias!.detach().to_type(ScalarType.Float64), strides: [s], padding: [p], groups: g);
            Assert.Equal(yr.shape, y.shape);
            double err = ConvProbe.RelError(y, yr);
            Assert.True(err < 1e-4, $"{route} {cin}->{cout} k{k} s{s} g{g}: {err}");
        }
    }

    [Fact]
    public void PolicyParsesTheOverrides()
    {
        Assert.Equal(ConvRoute.OneDnn, ConvPolicy.Decide("on", null).Route);
        Assert.Equal(ConvRoute.OneDnnOff, ConvPolicy.Decide("OFF", null).Route);
        Assert.Equal(ConvRoute.ZeroPad, ConvPolicy.Decide("on", "pad").Route);
        Assert.Equal(ConvRoute.Unfold, ConvPolicy.Decide(null, "unfold").Route);
        var auto = ConvPolicy.Decide("auto", null);
        Assert.NotEmpty(auto.Probes);
        Assert.True(auto.Probes[^1].Pass, auto.Summary);
        var e = Assert.Throws<UserInputException>(() => ConvPolicy.Decide("maybe", null));
        Assert.Contains(ConvPolicy.OneDnnVariable, e.Message);
        e = Assert.Throws<UserInputException>(() => ConvPolicy.Decide(null, "fast"));
        Assert.Contains(ConvPolicy.RouteVariable, e.Message);
    }

    [Fact]
    public void LibTorchSwitchesReadBackAndConfigNamesTheOneDnnVersion()
    {
        bool was = LibTorchContext.OneDnnEnabled;
        try
        {
            LibTorchContext.OneDnnEnabled = !was;
            Assert.Equal(!was, LibTorchContext.OneDnnEnabled);
        }
        finally { LibTorchContext.OneDnnEnabled = was; }
        Assert.Equal(was, LibTorchContext.OneDnnEnabled);
        Assert.Contains("CPU capability usage", LibTorchContext.ShowConfig(), StringComparison.Ordinal);
        Assert.Matches(@"^\d+\.\d+", MachineInfo.Collect().OneDnn ?? "");
    }
}
