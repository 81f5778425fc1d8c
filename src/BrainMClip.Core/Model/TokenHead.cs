using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>
/// Token head b (B,H) → (B,T,C). Low-rank: Linear(H→T·r), reshape (T,r), shared Linear(r→C) without bias plus a
/// learned (T,C) bias (the per-token bias replaces the shared one). Full: Linear(H→T·C).
/// </summary>
public sealed class TokenHead : Module<Tensor, Tensor>
{
    readonly Linear proj;
    readonly Linear? up;
    readonly Parameter? token_bias;
    readonly int _tokens, _width, _rank;

    public TokenHead(int hidden, int tokens, int width, int rank, bool lowRank) : base(nameof(TokenHead))
    {
        _tokens = tokens; _width = width; _rank = lowRank ? rank : 0;
        if (lowRank)
        {
            proj = Linear(hidden, (long)tokens * rank);
            up = Linear(rank, width, hasBias: false);
            token_bias = Parameter(zeros(tokens, width));
        }
        else proj = Linear(hidden, (long)tokens * width);
        RegisterComponents();
    }

    /// <summary>Sets the output bias to <paramref name="mean"/> (T,C), so training starts from the mean
    /// target.</summary>
    public void SetOutputBias(Tensor mean, bool zeroLastWeight)
    {
        using var _ = no_grad();
        if (token_bias is not null) token_bias.copy_(mean.reshape(_tokens, _width));
        else proj.bias!.copy_(mean.reshape(-1));
        if (zeroLastWeight) (up ?? proj).weight!.zero_();
    }

    public override Tensor forward(Tensor b)
    {
        using var scope = NewDisposeScope();
        var h = proj.call(b);
        Tensor y = up is null
            ? h.reshape(-1, _tokens, _width)
            : up.call(h.reshape(-1, _tokens, _rank)) + token_bias!;
        return y.MoveToOuterDisposeScope();
    }
}
