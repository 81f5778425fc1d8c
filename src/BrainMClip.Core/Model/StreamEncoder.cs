using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>
/// Encoder E: voxels (B,N) → latent b (B,H) → tokens (B,T,C).
/// Linear(N→H)+LayerNorm+GELU+Dropout(p_in), R residual blocks (Dropout p_blocks), token head. With model.encoder
/// "linear" the latent is the voxels after Dropout(p_in) and the (full) head maps them to the tokens: no hidden layer.
/// </summary>
public sealed class StreamEncoder : Module<Tensor, Tensor>
{
    readonly Linear? input;
    readonly LayerNorm? input_norm;
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
        act = GELU();
        input_drop = new SeededDropout(m.DropoutInput, rng);
        blocks = new ModuleList<ResidualBlock>();
        if (m.LinearEncoder) head = new TokenHead(voxels, m.Tokens, width, m.Rank, lowRank);
        else
        {
            input = Linear(voxels, m.Hidden);
            input_norm = LayerNorm(m.Hidden);
            for (int i = 0; i < m.Blocks; i++) blocks.Add(new ResidualBlock(m.Hidden, m.DropoutBlocks, rng));
            head = new TokenHead(m.Hidden, m.Tokens, width, m.Rank, lowRank);
        }
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
        if (input is null || input_norm is null) return input_drop.call(voxels);
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
