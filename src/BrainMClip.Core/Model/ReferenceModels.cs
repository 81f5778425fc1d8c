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
/// Parameter counts of the fMRI → CLIP networks BrainMCLIP is compared with, built from the layer shapes of their
/// public code for NSD subject 1 (15,724 nsdgeneral voxels) and counted with <see cref="LayerCount"/>. Only the
/// brain → CLIP pathway is counted; diffusion priors, low-level (VAE/blurry) pathways and image generators are not.
/// </summary>
public static class ReferenceModels
{
    const long Voxels = 15724;

    /// <summary>
    /// MindEye1 voxel2clip for ViT-L/14 hidden states (BrainNetwork, h 4096, 4 residual blocks, 257×768 output,
    /// with its MLP projector): lin0 Linear(15724→4096)+LN, 4 × (Linear(4096→4096)+LN), lin1 Linear(4096→257·768),
    /// projector LN(768), Linear(768→2048), LN, Linear(2048→2048), LN, Linear(2048→768).
    /// </summary>
    public static ReferenceModel MindEye1()
    {
        const long h = 4096, outDim = 257 * 768, clip = 768;
        return new("mindeye1", "MindEye1 (voxel2clip, subject 1)",
            "MindEye1 code (BrainNetwork: in 15724, h 4096, n_blocks 4, out 257x768, use_projector)",
            "voxel -> CLIP ViT-L/14 hidden-state network with its projector",
            "diffusion prior, low-level (Voxel2StableDiffusion/VAE) pathway",
            new Dictionary<string, long>
            {
                ["lin0"] = LayerCount.Linear(Voxels, h) + LayerCount.LayerNorm(h),
                ["residual_blocks"] = 4 * (LayerCount.Linear(h, h) + LayerCount.LayerNorm(h)),
                ["lin1"] = LayerCount.Linear(h, outDim),
                ["projector"] = LayerCount.LayerNorm(clip) + LayerCount.Linear(clip, 2048) + LayerCount.LayerNorm(2048)
                    + LayerCount.Linear(2048, 2048) + LayerCount.LayerNorm(2048) + LayerCount.Linear(2048, clip),
            });
    }

    /// <summary>
    /// MindBridge single-subject model (MindSingle as trained by scripts/train_single.sh: voxels max-pooled to 8192,
    /// h 2048, 4 blocks): embedder = Adapter_Layer(8192, bottleneck 128) + Linear(8192→2048) + LN; ResMLP
    /// 4 × (Linear(2048→2048)+LN); head_image Linear(2048→257·768); head_text Linear(2048→77·768).
    /// </summary>
    public static ReferenceModel MindBridge()
    {
        const long pooled = 8192, h = 2048, bottleneck = 128;
        return new("mindbridge", "MindBridge (single subject)",
            "MindBridge code (MindSingle; train_single.sh: h_size 2048, n_blocks 4, pool_num 8192)",
            "adapter, embedder, translator, image head (257x768) and text head (77x768)",
            "Versatile Diffusion; the multi-subject builder/cycle modules (not used for one subject)",
            new Dictionary<string, long>
            {
                ["adapter"] = LayerCount.Linear(pooled, bottleneck) + LayerCount.Linear(bottleneck, pooled),
                ["embedder"] = LayerCount.Linear(pooled, h) + LayerCount.LayerNorm(h),
                ["translator"] = 4 * (LayerCount.Linear(h, h) + LayerCount.LayerNorm(h)),
                ["head_image"] = LayerCount.Linear(h, 257 * 768),
                ["head_text"] = LayerCount.Linear(h, 77 * 768),
            });
    }

    /// <summary>
    /// MindEye2 single-subject brain → CLIP ViT-bigG/14 network (subject 1, seq_len 1): ridge Linear(15724→4096);
    /// backbone of 4 MLP-mixer blocks (LN(4096) + Linear(4096→4096) + Linear(4096→4096); the seq-mixing blocks
    /// are LN(1) + Linear(1→1) + Linear(1→1)); backbone_linear Linear(4096→256·1664); clip_proj LN/Linear 1664.
    /// </summary>
    public static ReferenceModel MindEye2()
    {
        const long h = 4096, seq = 1, clip = 1664, tokens = 256;
        long proj = 3 * LayerCount.LayerNorm(clip) + 3 * LayerCount.Linear(clip, clip);
        return new("mindeye2", "MindEye2 (ridge + backbone, subject 1)",
            "MindEye2 code (RidgeRegression 15724->4096; BrainNetwork h 4096, n_blocks 4, seq_len 1, out 256x1664, " +
                "clip_proj)",
            "ridge, MLP-mixer backbone, backbone_linear and clip_proj (brain -> CLIP ViT-bigG/14 tokens)",
            "diffusion prior, low-level blurry-reconstruction pathway (blin1, VAE decoder, maps projector), unCLIP " +
                "generator",
            new Dictionary<string, long>
            {
                ["ridge"] = LayerCount.Linear(Voxels, h),
                ["mixer_blocks1"] = 4 * (LayerCount.LayerNorm(h) + 2 * LayerCount.Linear(h, h)),
                ["mixer_blocks2"] = 4 * (LayerCount.LayerNorm(seq) + 2 * LayerCount.Linear(seq, seq)),
                ["backbone_linear"] = LayerCount.Linear(h * seq, tokens * clip),
                ["clip_proj"] = proj,
            });
    }

    public static IReadOnlyList<ReferenceModel> All() => [MindEye1(), MindEye2(), MindBridge()];
}
