using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Model;

/// <summary>Loss terms of one batch, each kept separately for logging. <see cref="Total"/> drives the
/// encoders/decoders.</summary>
public sealed class LossTerms
{
    /// <summary>Named terms, e.g. "detail.global", "semantic.token", "rec", "cross" (unweighted values).</summary>
    public Dictionary<string, Tensor> Terms { get; } = new(StringComparer.Ordinal);
    public required Tensor Total { get; init; }
    /// <summary>MSE of P(e_D) against e_S on ground-truth pairs; only the fusion map's parameters depend on
    /// it.</summary>
    public Tensor? Fusion { get; init; }
}

/// <summary>Multi-granularity loss (docs/model.md) plus self- and cross-reconstruction.</summary>
public static class Losses
{
    /// <summary>
    /// MindBridge's soft_clip_loss on (B,D) vectors (normalised by the caller): target = softmax(y·yᵀ/τ),
    /// logits = p·yᵀ/τ, mean of the row-wise and column-wise soft-target cross entropies.
    /// </summary>
    public static Tensor SoftClip(Tensor preds, Tensor targets, double temperature)
    {
        using var scope = NewDisposeScope();
        var clipClip = F.linear(targets, targets) / temperature;   // y·yᵀ
        var brainClip = F.linear(preds, targets) / temperature;    // p·yᵀ
        var soft = clipClip.softmax(-1);
        var loss1 = -(brainClip.log_softmax(-1) * soft).sum(-1).mean();
        var loss2 = -(brainClip.t().log_softmax(-1) * soft).sum(-1).mean();
        return ((loss1 + loss2) / 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// MindEye's mixco_nce on (B,D) vectors (normalised by the caller) for a mixed batch: logits = p·yᵀ/τ, soft targets
    /// from <see cref="MixupBatch.Targets"/>, mean of the row-wise and column-wise soft-target cross entropies.
    /// </summary>
    public static Tensor MixCo(Tensor preds, Tensor targets, double temperature, MixupBatch mix)
    {
        using var scope = NewDisposeScope();
        var logits = F.linear(preds, targets) / temperature;
        var probs = mix.Targets().to(logits.device);
        var loss1 = -(logits.log_softmax(-1) * probs).sum(-1).mean();
        var loss2 = -(logits.t().log_softmax(-1) * probs.t()).sum(-1).mean();
        return ((loss1 + loss2) / 2).MoveToOuterDisposeScope();
    }

    /// <summary>mean over samples and tokens of 1 − cos(p_t, y_t); inputs (B,T,C).</summary>
    public static Tensor TokenCosine(Tensor preds, Tensor targets)
    {
        using var scope = NewDisposeScope();
        return (1 - F.cosine_similarity(preds, targets, dim: -1)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>MSE between the flattened, L2-normalised vectors (B,T,C) → scalar (mean over elements).</summary>
    public static Tensor NormalisedMse(Tensor preds, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var p = F.normalize(preds.flatten(1), dim: -1);
        var y = F.normalize(targets.flatten(1), dim: -1);
        return F.mse_loss(p, y).MoveToOuterDisposeScope();
    }

    /// <summary>Global SoftCLIP on flattened, L2-normalised tokens (MixCo against the unmixed targets when
    /// mixed).</summary>
    public static Tensor Global(Tensor preds, Tensor targets, double temperature, MixupBatch? mix = null)
    {
        using var scope = NewDisposeScope();
        var p = F.normalize(preds.flatten(1), dim: -1);
        var y = F.normalize(targets.flatten(1), dim: -1);
        return (mix is null ? SoftClip(p, y, temperature) : MixCo(p, y, temperature, mix)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// L = Σ_s w_s (global_s + β·token_s + α·mse_s) + w_rec·L_rec + w_cross·L_cross (docs/model.md), with ablations
    /// applied.
    /// Also computes the fusion-map loss MSE(P(e_D), e_S) on ground truth (separate; see <see
    /// cref="LossTerms.Fusion"/>).
    /// With <paramref name="mix"/> (BiMixCo; fD/fS are then the mixed voxels) the global term is MixCo against the
    /// unmixed targets and the token and MSE terms compare with the equally mixed targets.
    /// </summary>
    public static LossTerms Compute(BrainMClipNet net, NetOutput o, Tensor? fD, Tensor? fS, Tensor? eD, Tensor? eS,
        MixupBatch? mix = null)
    {
        var c = net.Config;
        var l = c.Loss;
        bool globalOnly = c.Ablation.GlobalOnly, tokenOnly = c.Ablation.TokenOnly;
        var terms = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Tensor total = zeros(1).squeeze();

        void Stream(string name, Tensor pred, Tensor target, double weight, double alpha)
        {
            Tensor s = zeros(1).squeeze();
            if (!tokenOnly)
            {
                var g = Global(pred, target, l.Temperature, mix);
                terms[$"{name}.global"] = g;
                s = g;
            }
            if (!globalOnly)
            {
                var mixed = mix?.Mix(target) ?? target;
                var tok = TokenCosine(pred, mixed);
                var mse = NormalisedMse(pred, mixed);
                terms[$"{name}.token"] = tok;
                terms[$"{name}.mse"] = mse;
                s = s + l.Beta * tok + alpha * mse;
            }
            total = total + weight * s;
        }

        if (o.Detail is not null) Stream("detail", o.Detail, eD!, l.WDetail, l.AlphaDetail ?? l.Alpha);
        if (o.Semantic is not null) Stream("semantic", o.Semantic, eS!, l.WSemantic, l.Alpha);

        if (c.UsesRec)
        {
            Tensor rec = zeros(1).squeeze();
            if (o.LatentDetail is not null) rec = rec + F.mse_loss(net.DecodeDetail(o.LatentDetail)!, fD!);
            if (o.LatentSemantic is not null) rec = rec + F.mse_loss(net.DecodeSemantic(o.LatentSemantic)!, fS!);
            terms["rec"] = rec;
            total = total + l.WRec * rec;
        }
        if (c.UsesCross)
        {
            var cross = F.mse_loss(net.DecodeDetail(o.LatentSemantic!)!, fD!)
                + F.mse_loss(net.DecodeSemantic(o.LatentDetail!)!, fS!);
            terms["cross"] = cross;
            total = total + l.WCross * cross;
        }

        Tensor? fusion = null;
        if (net.HasFusion && eD is not null && eS is not null)
        {
            fusion = F.mse_loss(net.Project(eD), eS);
            terms["fusion"] = fusion;
        }
        var result = new LossTerms { Total = total, Fusion = fusion };
        foreach (var (k, v) in terms) result.Terms[k] = v;
        return result;
    }
}
