using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Model;

/// <summary>Predictions of one forward pass; null where the stream is ablated.</summary>
public sealed record NetOutput(Tensor? LatentDetail, Tensor? LatentSemantic, Tensor? Detail, Tensor? Semantic);

/// <summary>
/// BrainMCLIP (docs/model.md): encoders E_D (F_D → ê_D) and E_S (F_S → ê_S), decoders D_D/D_S for self- and
/// cross-reconstruction, and the fusion map P (fitted on ground-truth e_D → e_S). Modules that an ablation
/// leaves unused are not built, so every parameter receives a gradient.
/// State-dict keys: encoder_detail.*, encoder_semantic.*, decoder_detail.*, decoder_semantic.*, fusion.*.
/// </summary>
public sealed class BrainMClipNet : nn.Module
{
    readonly StreamEncoder? encoder_detail;
    readonly StreamEncoder? encoder_semantic;
    readonly StreamDecoder? decoder_detail;
    readonly StreamDecoder? decoder_semantic;
    readonly FusionMap? fusion;

    readonly DropoutRng _dropout = new();

    public BrainMClipConfig Config { get; }
    public int VoxelsDetail { get; }
    public int VoxelsSemantic { get; }

    public BrainMClipNet(BrainMClipConfig config, int voxelsDetail, int voxelsSemantic) : base(nameof(BrainMClipNet))
    {
        if (config.IsRidge) throw new ArgumentException("the ridge configuration has no neural network");
        if (voxelsDetail < 1 || voxelsSemantic < 1)
            throw new UserInputException(
                $"voxel counts must be >= 1 (detail {voxelsDetail}, semantic {voxelsSemantic})");
        Config = config; VoxelsDetail = voxelsDetail; VoxelsSemantic = voxelsSemantic;
        var m = config.Model;
        bool lowRank = config.EffectiveHead == "low_rank";
        bool decoders = config.UsesRec || config.UsesCross;
        if (config.UsesDetail)
        {
            encoder_detail = new StreamEncoder(voxelsDetail,
                m.DropoutDetail is { } d ? m with { DropoutInput = d, DropoutBlocks = d } : m, m.DetailWidth, lowRank,
                _dropout);
            if (decoders) decoder_detail = new StreamDecoder(m.Hidden, voxelsDetail);
            fusion = new FusionMap(m.DetailWidth, m.SemanticWidth);
        }
        if (config.UsesSemantic)
        {
            encoder_semantic = new StreamEncoder(voxelsSemantic, m, m.SemanticWidth, lowRank, _dropout);
            if (decoders) decoder_semantic = new StreamDecoder(m.Hidden, voxelsSemantic);
        }
        RegisterComponents();
    }

    public bool HasFusion => fusion is not null;

    /// <summary>The generator dropout draws from in training mode (null: the process-wide default generator).</summary>
    public Generator? DropoutGenerator { get => _dropout.Generator; set => _dropout.Generator = value; }

    /// <summary>
    /// Re-draws every Linear layer with PyTorch's default initialisation (weight and bias ~ U(±1/√fan_in)) from
    /// <paramref name="generator"/>; LayerNorms to 1/0 and the token biases to 0. Independent of the global RNG,
    /// so initialisation is reproducible even while other code in the process draws random numbers.
    /// </summary>
    public void Initialize(Generator generator)
    {
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("token_bias", StringComparison.Ordinal)) { p.zero_(); continue; }
            if (name.Contains("norm", StringComparison.Ordinal))
            { if (name.EndsWith("weight", StringComparison.Ordinal)) p.fill_(1); else p.zero_(); continue; }
        }
        foreach (var (_, module) in named_modules())
        {
            if (module is not TorchSharp.Modules.Linear lin) continue;
            // The draws are as large as the layer (up to 0.5 GB for the paper preset's heads): free them now, not at
            // GC.
            using var scope = NewDisposeScope();
            double bound = 1.0 / Math.Sqrt(lin.weight!.shape[1]);
            lin.weight.copy_(rand(lin.weight.shape, generator: generator) * (2 * bound) - bound);
            lin.bias?.copy_(rand(lin.bias.shape, generator: generator) * (2 * bound) - bound);
        }
    }

    /// <summary>Encodes both streams (fD: (B,N_D), fS: (B,N_S); either may be null when its stream is
    /// ablated).</summary>
    /// <param name="skipD">With model.ridge_skip: the linear path's output (B, T·C) to use instead of the stored
    /// map's.</param>
    /// <param name="skipS">Likewise for the semantic stream.</param>
    public NetOutput Forward(Tensor? fD, Tensor? fS, Tensor? skipD = null, Tensor? skipS = null)
    {
        Tensor? bD = null, bS = null, eD = null, eS = null;
        if (encoder_detail is not null)
        {
            bD = encoder_detail.call(fD ?? throw new ArgumentNullException(nameof(fD)));
            eD = encoder_detail.Tokens(bD, fD, skipD);
        }
        if (encoder_semantic is not null)
        {
            bS = encoder_semantic.call(fS ?? throw new ArgumentNullException(nameof(fS)));
            eS = encoder_semantic.Tokens(bS, fS, skipS);
        }
        return new NetOutput(bD, bS, eD, eS);
    }

    /// <summary>
    /// Data-dependent start (ours): each token head's output bias is set to the mean training target (T,C), the
    /// intercept a linear model would have, so the encoders learn the sample-specific part from the first step.
    /// </summary>
    public void InitializeOutputBias(Tensor? meanDetail, Tensor? meanSemantic)
    {
        bool zero = Config.Model.ZeroInitHead;
        if (encoder_detail is not null && meanDetail is not null) encoder_detail.SetOutputBias(meanDetail, zero);
        if (encoder_semantic is not null && meanSemantic is not null) encoder_semantic.SetOutputBias(meanSemantic,
            zero);
    }

    /// <summary>Encoders whose token output includes the fixed ridge path (model.ridge_skip), by stream name.</summary>
    public IEnumerable<(string stream, StreamEncoder encoder)> RidgeSkipEncoders()
    {
        if (encoder_detail is { HasRidgeSkip: true }) yield return ("detail", encoder_detail);
        if (encoder_semantic is { HasRidgeSkip: true }) yield return ("semantic", encoder_semantic);
    }

    public Tensor? DecodeDetail(Tensor latent) => decoder_detail?.call(latent);
    public Tensor? DecodeSemantic(Tensor latent) => decoder_semantic?.call(latent);

    /// <summary>P(e): token-wise map from CLIP-Detail width to CLIP-Semantic width.</summary>
    public Tensor Project(Tensor detailTokens) =>
        (fusion
            ?? throw new InvalidOperationException("this configuration has no fusion map (semantic_only)")).call(
            detailTokens);

    /// <summary>Parameters of the fusion map (clipped separately so its loss never rescales the encoders'
    /// step).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> FusionParameters() =>
        fusion?.parameters() ?? Enumerable.Empty<TorchSharp.Modules.Parameter>();

    /// <summary>Parameter count per top-level module.</summary>
    public IReadOnlyDictionary<string, long> ParameterCountsByModule() =>
        named_children().ToDictionary(c => c.name, c => c.module.parameters().Sum(p => p.numel()));
}
