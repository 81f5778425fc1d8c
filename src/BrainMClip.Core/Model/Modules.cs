using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>
/// Holds the generator that drives dropout. The network owns it so training never touches the process-wide RNG
/// (which anything else in the process may consume), making runs reproducible and resumable from a saved state.
/// </summary>
public sealed class DropoutRng
{
    public Generator? Generator { get; set; }
}

/// <summary>Inverted dropout drawing its mask from <see cref="DropoutRng"/> (same distribution as
/// nn.Dropout).</summary>
public sealed class SeededDropout : Module<Tensor, Tensor>
{
    readonly double _p;
    readonly DropoutRng _rng;

    public SeededDropout(double p, DropoutRng rng) : base(nameof(SeededDropout))
    {
        _p = p; _rng = rng;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || _p == 0) return x.alias();
        using var scope = NewDisposeScope();
        var keep = rand(x.shape, generator: _rng.Generator, dtype: x.dtype, device: x.device).ge(_p);
        return (x * keep / (1 - _p)).MoveToOuterDisposeScope();
    }
}

/// <summary>One residual MLP block: x + Dropout(GELU(LayerNorm(Linear(x)))).</summary>
public sealed class ResidualBlock : Module<Tensor, Tensor>
{
    readonly Linear linear;
    readonly LayerNorm norm;
    readonly GELU act;
    readonly SeededDropout drop;

    public ResidualBlock(int hidden, double dropout, DropoutRng rng) : base(nameof(ResidualBlock))
    {
        linear = Linear(hidden, hidden);
        norm = LayerNorm(hidden);
        act = GELU();
        drop = new SeededDropout(dropout, rng);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (x + drop.call(act.call(norm.call(linear.call(x))))).MoveToOuterDisposeScope();
    }
}

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

/// <summary>
/// Encoder E: voxels (B,N) → latent b (B,H) → tokens (B,T,C).
/// Linear(N→H)+LayerNorm+GELU+Dropout(p_in), R residual blocks (Dropout p_blocks), token head.
/// </summary>
public sealed class StreamEncoder : Module<Tensor, Tensor>
{
    readonly Linear input;
    readonly LayerNorm input_norm;
    readonly GELU act;
    readonly SeededDropout input_drop;
    readonly ModuleList<ResidualBlock> blocks;
    readonly TokenHead head;
    // model.ridge_skip: a fixed linear map voxels → flattened tokens (fitted in closed form by the trainer, not
    // trained); plain Tensor fields are persistent buffers, so checkpoints carry them.
    readonly Tensor? skip_weight;
    readonly Tensor? skip_bias;
    readonly int _tokens, _width;

    public StreamEncoder(int voxels, ModelSection m, int width, bool lowRank,
        DropoutRng rng) : base(nameof(StreamEncoder))
    {
        input = Linear(voxels, m.Hidden);
        input_norm = LayerNorm(m.Hidden);
        act = GELU();
        input_drop = new SeededDropout(m.DropoutInput, rng);
        blocks = new ModuleList<ResidualBlock>();
        for (int i = 0; i < m.Blocks; i++) blocks.Add(new ResidualBlock(m.Hidden, m.DropoutBlocks, rng));
        head = new TokenHead(m.Hidden, m.Tokens, width, m.Rank, lowRank);
        _tokens = m.Tokens; _width = width;
        if (m.RidgeSkip)
        {
            skip_weight = zeros(voxels, (long)m.Tokens * width);
            skip_bias = zeros((long)m.Tokens * width);
        }
        RegisterComponents();
    }

    /// <summary>The brain latent b.</summary>
    public override Tensor forward(Tensor voxels)
    {
        using var scope = NewDisposeScope();
        var b = input_drop.call(act.call(input_norm.call(input.call(voxels))));
        foreach (var blk in blocks) b = blk.call(b);
        return b.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Tokens (B,T,C) from the latent plus, with model.ridge_skip, the fixed linear map of the voxels — or, when
    /// <paramref name="linearOverride"/> (B, T·C) is given, that in its place (the trainer's out-of-fold predictions).
    /// </summary>
    public Tensor Tokens(Tensor latent, Tensor voxels, Tensor? linearOverride = null)
    {
        if (skip_weight is null) return head.call(latent);
        using var scope = NewDisposeScope();
        var linear = (linearOverride ?? nn.functional.linear(voxels, skip_weight.t(), skip_bias)).reshape(-1, _tokens,
            _width);
        return (head.call(latent) + linear).MoveToOuterDisposeScope();
    }

    public bool HasRidgeSkip => skip_weight is not null;

    /// <summary>Sets the fixed linear path: weight (N, T·C), bias (T·C).</summary>
    public void SetRidgeSkip(Tensor weight, Tensor bias)
    {
        if (skip_weight is null || skip_bias is null) throw new InvalidOperationException("model.ridge_skip is off");
        if (!weight.shape.SequenceEqual(skip_weight.shape) || !bias.shape.SequenceEqual(skip_bias.shape))
            throw new ArgumentException(
                $"ridge skip shapes [{string.Join(",", weight.shape)}]/[{string.Join(",", bias.shape)}], expected " +
                $"[{string.Join(",", skip_weight.shape)}]/[{string.Join(",", skip_bias.shape)}]");
        using var _ = no_grad();
        skip_weight.copy_(weight);
        skip_bias.copy_(bias);
    }

    public void SetOutputBias(Tensor mean, bool zeroLastWeight) => head.SetOutputBias(mean, zeroLastWeight);
}

/// <summary>Decoder D: latent b (B,H) → voxels (B,N): Linear(H→H)+LayerNorm+GELU+Linear(H→N).</summary>
public sealed class StreamDecoder : Module<Tensor, Tensor>
{
    readonly Linear hidden;
    readonly LayerNorm norm;
    readonly GELU act;
    readonly Linear output;

    public StreamDecoder(int hiddenSize, int voxels) : base(nameof(StreamDecoder))
    {
        hidden = Linear(hiddenSize, hiddenSize);
        norm = LayerNorm(hiddenSize);
        act = GELU();
        output = Linear(hiddenSize, voxels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor b)
    {
        using var scope = NewDisposeScope();
        return output.call(act.call(norm.call(hidden.call(b)))).MoveToOuterDisposeScope();
    }
}

/// <summary>The fusion map P: a token-wise Linear(C_D → C_S) applied to every token of e_D (B,T,C_D).</summary>
public sealed class FusionMap : Module<Tensor, Tensor>
{
    readonly Linear map;

    public FusionMap(int detailWidth, int semanticWidth) : base(nameof(FusionMap))
    {
        map = Linear(detailWidth, semanticWidth);
        RegisterComponents();
    }

    public override Tensor forward(Tensor detailTokens) => map.call(detailTokens);
}
