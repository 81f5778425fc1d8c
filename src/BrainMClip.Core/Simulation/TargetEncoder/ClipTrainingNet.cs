using BrainMClip.Features;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace BrainMClip.Simulation.TargetEncoder;

/// <summary>Weights of the training objective's terms.</summary>
public sealed record ClipLossWeights
{
    /// <summary>
    /// InfoNCE between the mean of all projected final tokens and the caption embedding (both directions).
    /// </summary>
    public double Pooled { get; init; } = 1.0;
    /// <summary>InfoNCE between every single projected final token and the captions (token → caption).</summary>
    public double Tokens { get; init; } = 1.0;
    /// <summary>
    /// Family-presence head (BCE) on the mean projected token and on every projected token (averaged).
    /// </summary>
    public double Presence { get; init; } = 1.0;
    /// <summary>
    /// Per-patch colour/contrast regression from the middle layer's patch tokens (keeps local detail there).
    /// </summary>
    public double Local { get; init; } = 1.0;
    /// <summary>
    /// Per-patch family coverage (BCE, soft targets) from the middle layer's patch tokens, when scenes give coverage.
    /// </summary>
    public double Parts { get; init; } = 1.0;
}

/// <summary>The loss terms of one batch (scalars; <see cref="Total"/> carries the graph).</summary>
public sealed record ClipLossTerms(
    Tensor Total, Tensor Pooled, Tensor Tokens, Tensor Presence, Tensor Local, Tensor Parts);

/// <summary>
/// The CLIP vision tower plus what only training needs: a small caption encoder (the "text tower" of the symbolic
/// scene description), a family-presence head, a per-patch local head on a middle layer and CLIP's learned logit
/// scale. Only <see cref="Clip"/> is written to the output folder.
/// </summary>
public sealed class ClipTrainingNet : nn.Module
{
    /// <summary>Per-patch targets of the local head: mean and standard deviation of each channel.</summary>
    public const int LocalTargets = 6;
    const double MaxLogitScale = 100.0;

    readonly ClipVisionModel clip;
    readonly Sequential caption_encoder;
    readonly Linear family_head;
    readonly Linear local_head;
    readonly Linear part_head;
    readonly Parameter logit_scale;

    public ClipVisionModel Clip => clip;
    /// <summary>Hidden-state index whose patch tokens feed the local head.</summary>
    public int TapLayer { get; }

    public ClipTrainingNet(ClipVisionConfig cfg, int captionDim, int families, int tapLayer)
        : base(nameof(ClipTrainingNet))
    {
        TapLayer = tapLayer;
        clip = new ClipVisionModel(cfg);
        int hidden = 4 * cfg.ProjectionDim;
        caption_encoder = nn.Sequential(nn.Linear(captionDim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, cfg.ProjectionDim));
        family_head = nn.Linear(cfg.ProjectionDim, families);
        local_head = nn.Linear(cfg.HiddenSize, LocalTargets);
        part_head = nn.Linear(cfg.HiddenSize, families);
        logit_scale = new Parameter(tensor(Math.Log(10.0), ScalarType.Float32)); // temperature 0.1 at the start
        RegisterComponents();
    }

    /// <summary>The current logit scale exp(s), clamped like CLIP's.</summary>
    public double LogitScale => Math.Min(MaxLogitScale, Math.Exp(logit_scale.item<float>()));

    /// <summary>
    /// All loss terms for normalised pixels (B, 3, S, S), captions (B, D), family multi-hot (B, F) and optional
    /// per-patch family coverage (B, G², F).
    /// </summary>
    public ClipLossTerms Loss(Tensor pixels, Tensor captions, Tensor families, Tensor? coverage, ClipLossWeights w)
    {
        var (tap, z) = clip.ForwardForTraining(pixels, TapLayer);
        long b = z.shape[0], t = z.shape[1];
        var text = F.normalize(caption_encoder.call(captions), dim: -1);                        // (B, P)
        var scale = logit_scale.exp().clamp_max(MaxLogitScale);
        var target = arange(b, dtype: ScalarType.Int64);

        var pooled = z.mean([1]);                                                              // (B, P)
        var logits = scale * F.linear(F.normalize(pooled, dim: -1), text);                     // image i vs caption j
        var pooledLoss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2;

        // Every token must name its own image among the batch's captions: image-level meaning in each token.
        var tokenLogits = scale * F.linear(F.normalize(z, dim: -1), text);                     // (B, T, B)
        var tokenLoss = F.cross_entropy(tokenLogits.reshape(b * t, b), target.repeat_interleave(t));

        // Presence from the mean token and from every single token (image-level labels: position-tolerant by design).
        var presence = (F.binary_cross_entropy_with_logits(family_head.call(pooled), families)
            + F.binary_cross_entropy_with_logits(family_head.call(z), families.unsqueeze(1).expand(b, t, -1))) / 2;

        var patches = tap.narrow(1, 1, t - 1);                                                 // drop CLS
        var local = F.mse_loss(local_head.call(patches), PatchStatistics(pixels, clip.Config.PatchSize));

        var parts = coverage is null
            ? zeros(1).squeeze()
            : F.binary_cross_entropy_with_logits(part_head.call(patches), coverage);

        var total = pooledLoss * w.Pooled + tokenLoss * w.Tokens + presence * w.Presence + local * w.Local
            + parts * w.Parts;
        return new ClipLossTerms(total, pooledLoss, tokenLoss, presence, local, parts);
    }

    /// <summary>
    /// Per patch (row-major, like the patch tokens): mean and standard deviation of each channel (B, G², 6).
    /// </summary>
    public static Tensor PatchStatistics(Tensor pixels, int patch)
    {
        long b = pixels.shape[0], c = pixels.shape[1], g = pixels.shape[2] / patch;
        var p = pixels.view(b, c, g, patch, g, patch).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, c, patch * patch);
        return cat([p.mean([-1]), p.std(-1, unbiased: false)], -1);
    }

    /// <summary>Caption embeddings (B, P), unit norm (for evaluation).</summary>
    public Tensor EncodeCaptions(Tensor captions) => F.normalize(caption_encoder.call(captions), dim: -1);

    /// <summary>Family-presence logits from the mean projected token (B, F) (for evaluation).</summary>
    public Tensor FamilyLogits(Tensor pooledProjected) => family_head.call(pooledProjected);

    /// <summary>Local-head predictions for hidden tokens (B, T−1, W) (for evaluation).</summary>
    public Tensor LocalPredictions(Tensor patchTokens) => local_head.call(patchTokens);
}
