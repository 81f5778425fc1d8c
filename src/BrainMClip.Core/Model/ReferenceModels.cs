namespace BrainMClip.Model;

/// <summary>
/// The one parameter counter for layer shapes: ours (<see cref="ParameterCounts"/>) and the published models'
/// (<see cref="ReferenceModels"/>) are both sums of these, so the comparison counts the same things the same way.
/// </summary>
public static class LayerCount
{
    /// <summary>nn.Linear(in, out): in·out weights plus out biases.</summary>
    public static long Linear(long inFeatures, long outFeatures, bool bias = true) =>
        inFeatures * outFeatures + (bias ? outFeatures : 0);

    /// <summary>nn.LayerNorm(n): weight and bias.</summary>
    public static long LayerNorm(long n) => 2 * n;
}

/// <summary>A published model's parameter count, with where its layer shapes come from and what it includes.</summary>
public sealed record ReferenceModel(string Key, string Name, string Source, string Includes, string Excludes,
    IReadOnlyDictionary<string, long> Modules)
{
    public long Total => Modules.Values.Sum();
}

/// <summary>
/// The input and target sizes a reference network is counted at: fMRI voxels in, CLIP tokens × width out. A parameter
/// comparison is only like with like at the same sizes (issue 29): <see cref="NsdSubject1"/> for the published models
/// as trained, or the sizes of the configuration being compared (<see cref="ParameterCounts.Summarize"/>).
/// </summary>
/// <param name="Voxels">Voxels in (MindEye1/2: all nsdgeneral voxels; ours: the detail stream, which is the same set).
/// </param>
/// <param name="Tokens">CLIP tokens out.</param>
/// <param name="Width">CLIP token width out.</param>
/// <param name="TextTokens">MindBridge's text-head tokens (77 on NSD; 0 = no text target at these sizes).</param>
/// <param name="TextWidth">MindBridge's text-head width.</param>
public sealed record ReferenceSizes(long Voxels, long Tokens, long Width, long TextTokens, long TextWidth, string Label)
{
    /// <summary>NSD subject 1 with ViT-L/14 targets: 15,724 nsdgeneral voxels, 257 × 768 image tokens, 77 × 768 text
    /// tokens (MindEye2's own target, ViT-bigG/14 256 × 1664, is <see cref="MindEye2Native"/>).</summary>
    public static readonly ReferenceSizes NsdSubject1 =
        new(15724, 257, 768, 77, 768, "NSD subject 1: 15,724 voxels, CLIP ViT-L/14 257x768");

    /// <summary>MindEye2's own targets on NSD subject 1 (ViT-bigG/14, 256 × 1664).</summary>
    public static readonly ReferenceSizes MindEye2Native =
        new(15724, 256, 1664, 0, 0, "NSD subject 1: 15,724 voxels, CLIP ViT-bigG/14 256x1664");

    /// <summary>The sizes of one BrainMCLIP configuration: its detail voxels in, its semantic target (T × C_S) out,
    /// no text target.</summary>
    public static ReferenceSizes Of(long voxels, long tokens, long width) =>
        new(voxels, tokens, width, 0, 0, $"matched: {voxels:N0} voxels, {tokens}x{width} targets");
}

/// <summary>
/// Parameter counts of the fMRI → CLIP networks BrainMCLIP is compared with, built from the layer shapes of their
/// public code and counted with <see cref="LayerCount"/>: their hidden widths and depths as published, their input and
/// output layers at the given <see cref="ReferenceSizes"/> (the published counts are at
/// <see cref="ReferenceSizes.NsdSubject1"/>). Only the brain → CLIP pathway is counted; diffusion priors, low-level
/// (VAE/blurry) pathways and image generators are not.
/// </summary>
public static class ReferenceModels
{
    /// <summary>
    /// MindEye1 voxel2clip for ViT-L/14 hidden states (BrainNetwork, h 4096, 4 residual blocks, 257×768 output,
    /// with its MLP projector): lin0 Linear(voxels→4096)+LN, 4 × (Linear(4096→4096)+LN), lin1 Linear(4096→T·C),
    /// projector LN(C), Linear(C→2048), LN, Linear(2048→2048), LN, Linear(2048→C).
    /// </summary>
    public static ReferenceModel MindEye1(ReferenceSizes? at = null)
    {
        var z = at ?? ReferenceSizes.NsdSubject1;
        const long h = 4096;
        long outDim = z.Tokens * z.Width, clip = z.Width;
        return new("mindeye1", "MindEye1 (voxel2clip)",
            $"MindEye1 code (BrainNetwork: h 4096, n_blocks 4, use_projector) at {z.Label}",
            $"voxel -> CLIP hidden-state network ({z.Tokens}x{z.Width}) with its projector",
            "diffusion prior, low-level (Voxel2StableDiffusion/VAE) pathway",
            new Dictionary<string, long>
            {
                ["lin0"] = LayerCount.Linear(z.Voxels, h) + LayerCount.LayerNorm(h),
                ["residual_blocks"] = 4 * (LayerCount.Linear(h, h) + LayerCount.LayerNorm(h)),
                ["lin1"] = LayerCount.Linear(h, outDim),
                ["projector"] = LayerCount.LayerNorm(clip) + LayerCount.Linear(clip, 2048) + LayerCount.LayerNorm(2048)
                    + LayerCount.Linear(2048, 2048) + LayerCount.LayerNorm(2048) + LayerCount.Linear(2048, clip),
            });
    }

    /// <summary>
    /// MindBridge single-subject model (MindSingle as trained by scripts/train_single.sh: voxels max-pooled to 8192,
    /// h 2048, 4 blocks): embedder = Adapter_Layer(pooled, bottleneck 128) + Linear(pooled→2048) + LN; ResMLP
    /// 4 × (Linear(2048→2048)+LN); head_image Linear(2048→T·C); head_text Linear(2048→77·768) on NSD. At other sizes
    /// the pool is min(8192, voxels) (pooling never adds information) and the text head exists only with a text
    /// target.
    /// </summary>
    public static ReferenceModel MindBridge(ReferenceSizes? at = null)
    {
        var z = at ?? ReferenceSizes.NsdSubject1;
        const long h = 2048, bottleneck = 128;
        long pooled = Math.Min(8192, z.Voxels);
        var modules = new Dictionary<string, long>
        {
            ["adapter"] = LayerCount.Linear(pooled, bottleneck) + LayerCount.Linear(bottleneck, pooled),
            ["embedder"] = LayerCount.Linear(pooled, h) + LayerCount.LayerNorm(h),
            ["translator"] = 4 * (LayerCount.Linear(h, h) + LayerCount.LayerNorm(h)),
            ["head_image"] = LayerCount.Linear(h, z.Tokens * z.Width),
        };
        if (z.TextTokens > 0) modules["head_text"] = LayerCount.Linear(h, z.TextTokens * z.TextWidth);
        return new("mindbridge", "MindBridge (single subject)",
            $"MindBridge code (MindSingle; train_single.sh: h_size 2048, n_blocks 4, pool_num {pooled}) at {z.Label}",
            z.TextTokens > 0
                ? $"adapter, embedder, translator, image head ({z.Tokens}x{z.Width}) and text head " +
                  $"({z.TextTokens}x{z.TextWidth})"
                : $"adapter, embedder, translator, image head ({z.Tokens}x{z.Width}); no text head (no text target)",
            "Versatile Diffusion; the multi-subject builder/cycle modules (not used for one subject)",
            modules);
    }

    /// <summary>
    /// MindEye2 single-subject brain → CLIP network (seq_len 1): ridge Linear(voxels→4096); backbone of 4
    /// MLP-mixer blocks (LN(4096) + Linear(4096→4096) + Linear(4096→4096); the seq-mixing blocks are LN(1) +
    /// Linear(1→1) + Linear(1→1)); backbone_linear Linear(4096→T·C); clip_proj 3 × (LN(C) + Linear(C→C)). Its own
    /// targets are ViT-bigG/14 (<see cref="ReferenceSizes.MindEye2Native"/>, the default).
    /// </summary>
    public static ReferenceModel MindEye2(ReferenceSizes? at = null)
    {
        var z = at ?? ReferenceSizes.MindEye2Native;
        const long h = 4096, seq = 1;
        long clip = z.Width, tokens = z.Tokens;
        long proj = 3 * LayerCount.LayerNorm(clip) + 3 * LayerCount.Linear(clip, clip);
        return new("mindeye2", "MindEye2 (ridge + backbone)",
            $"MindEye2 code (RidgeRegression voxels->4096; BrainNetwork h 4096, n_blocks 4, seq_len 1, clip_proj) at " +
                z.Label,
            $"ridge, MLP-mixer backbone, backbone_linear and clip_proj (brain -> {tokens}x{clip} CLIP tokens)",
            "diffusion prior, low-level blurry-reconstruction pathway (blin1, VAE decoder, maps projector), unCLIP " +
                "generator",
            new Dictionary<string, long>
            {
                ["ridge"] = LayerCount.Linear(z.Voxels, h),
                ["mixer_blocks1"] = 4 * (LayerCount.LayerNorm(h) + 2 * LayerCount.Linear(h, h)),
                ["mixer_blocks2"] = 4 * (LayerCount.LayerNorm(seq) + 2 * LayerCount.Linear(seq, seq)),
                ["backbone_linear"] = LayerCount.Linear(h * seq, tokens * clip),
                ["clip_proj"] = proj,
            });
    }

    /// <summary>The three references as published (NSD subject 1, each with its own targets).</summary>
    public static IReadOnlyList<ReferenceModel> All() => [MindEye1(), MindEye2(), MindBridge()];

    /// <summary>The three references at one set of sizes (like with like).</summary>
    public static IReadOnlyList<ReferenceModel> All(ReferenceSizes at) => [MindEye1(at), MindEye2(at), MindBridge(at)];
}
