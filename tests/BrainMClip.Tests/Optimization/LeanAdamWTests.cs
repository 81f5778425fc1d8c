using BrainMClip.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using LeanAdamW = BrainMClip.Optimization.AdamW;
using StockAdamW = TorchSharp.Modules.AdamW;

namespace BrainMClip.Tests.Optimization;

/// <summary>Optimization.AdamW must be TorchSharp's AdamW to the bit (parameters and serialised state), only
/// leaner.</summary>
public class LeanAdamWTests
{
    static (nn.Module net, List<Parameter> decay, List<Parameter> noDecay) Net()
    {
        manual_seed(3);
        var net = nn.Sequential(nn.Linear(7, 5), nn.GELU(), nn.LayerNorm(5), nn.Linear(5, 3));
        var (decay, noDecay) = Trainer.ParameterGroups(net);
        return (net, decay, noDecay);
    }

    static byte[] State(OptimizerHelper opt)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) opt.save_state_dict(w);
        return ms.ToArray();
    }

    static void Train(nn.Module net, OptimizerHelper opt, int steps)
    {
        using var g = new Generator(11);
        var sched = optim.lr_scheduler.OneCycleLR(opt, max_lr: 0.05, total_steps: 20);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(9, 7, generator: g);
            var loss = ((Sequential)net).call(x).pow(2).mean();
            net.zero_grad();
            loss.backward();
            opt.step();
            sched.step();
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void MatchesTorchSharpsAdamWBitForBit(bool amsgrad, bool maximize)
    {
        var (a, aDecay, aNo) = Net();
        var (b, bDecay, bNo) = Net();
        using var stock = optim.AdamW(
        [
            new StockAdamW.ParamGroup(aDecay, lr: 0.05, weight_decay: 0.1, amsgrad: amsgrad, maximize: maximize),
            new StockAdamW.ParamGroup(aNo, lr: 0.05, weight_decay: 0.0, amsgrad: amsgrad, maximize: maximize),
        ], lr: 0.05, amsgrad: amsgrad, maximize: maximize);
        using var lean = new LeanAdamW(
        [
            new StockAdamW.ParamGroup(bDecay, lr: 0.05, weight_decay: 0.1, amsgrad: amsgrad, maximize: maximize),
            new StockAdamW.ParamGroup(bNo, lr: 0.05, weight_decay: 0.0, amsgrad: amsgrad, maximize: maximize),
        ], 0.05, 0.1);
        Train(a, stock, 6);
        Train(b, lean, 6);
        var pa = a.parameters().ToList(); var pb = b.parameters().ToList();
        for (int i = 0; i < pa.Count; i++)
        {
            Assert.True(pa[i].equal(pb[i]).all().item<bool>(), $"parameter {i} differs");
            Assert.False(pa[i].equal(pa[i].detach().clone().zero_()).all().item<bool>()); // it did train
        }
        Assert.Equal(State(stock), State(lean));
    }

    [Fact]
    public void FreesEveryTemporaryOfTheStep()
    {
        var (net, decay, noDecay) = Net();
        using var lean = new LeanAdamW(
            [
                new StockAdamW.ParamGroup(decay, lr: 0.01, weight_decay: 0.1),
                new StockAdamW.ParamGroup(noDecay, lr: 0.01),
            ],
            0.01, 0.1);
        using (var scope = NewDisposeScope())
        {
            ((Sequential)net).call(randn(4, 7)).sum().backward();
        }
        long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var outer = NewDisposeScope())
        {
            lean.step();
            Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        }
    }
}
