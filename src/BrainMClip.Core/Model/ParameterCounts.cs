namespace BrainMClip.Model;

/// <summary>
/// Parameter counts of <see cref="BrainMClipNet"/> computed from the configuration alone (no allocation: the paper
/// preset is ~200 M parameters). Mirrors the module structure exactly; a test checks it against built modules.
/// </summary>
public static class ParameterCounts
{
    /// <summary>Reference totals as published, at NSD subject 1's sizes (computed from layer shapes in
    /// <see cref="ReferenceModels"/>; a test keeps them equal).</summary>
    public const long MindBridge = 561_283_712, MindEye1 = 947_579_904;

    public sealed record ModuleCount(string Name, long Parameters, IReadOnlyDictionary<string, long> Parts);

    /// <summary>Per-module counts of one configuration and its voxel counts, with the reference models at the same
    /// sizes (<paramref name="References"/>, <paramref name="Sizes"/>: the only ones a "fewer parameters" figure
    /// may use) and as published on NSD subject 1 (<paramref name="Published"/>, for scale beside the paper
    /// preset).</summary>
    public sealed record Summary(BrainMClipConfig Config, int VoxelsDetail, int VoxelsSemantic,
        IReadOnlyList<ModuleCount> Modules, long Total, IReadOnlyList<ReferenceModel> References,
        ReferenceSizes Sizes, IReadOnlyList<ReferenceModel> Published);

    /// <summary>`params`: the counts of configuration <paramref name="config"/> (a preset or a .json) beside the
    /// reference models.</summary>
    public static Summary Summarize(string config, int voxelsDetail, int voxelsSemantic)
    {
        var cfg = BrainMClipConfig.Resolve(config);
        if (cfg.IsRidge) throw UserInputException.Invalid("Config",
            "the ridge baseline has no network; its size is voxels × tokens × width per stream");
        UserInputException.Require(voxelsDetail >= 1, "VoxelsDetail",
            $"detail voxels must be a positive count (got {voxelsDetail})");
        UserInputException.Require(voxelsSemantic >= 1, "VoxelsSemantic",
            $"semantic voxels must be a positive count (got {voxelsSemantic})");
        var modules = Compute(cfg, voxelsDetail, voxelsSemantic);
        var sizes = MatchedSizes(cfg, voxelsDetail);
        return new Summary(cfg, voxelsDetail, voxelsSemantic, modules, modules.Sum(m => m.Parameters),
            ReferenceModels.All(sizes), sizes, ReferenceModels.All());
    }

    /// <summary>
    /// The sizes the references are counted at to compare with <paramref name="c"/>: its detail voxels (all
    /// nsdgeneral voxels, the input MindEye1/2 take; the semantic voxels are a subset of them) and its semantic target
    /// T × C_S (the CLIP image tokens the references predict). Our detail target is extra output the references do
    /// not have.
    /// </summary>
    public static ReferenceSizes MatchedSizes(BrainMClipConfig c, long voxelsDetail)
    {
        var sizes = ReferenceSizes.Of(voxelsDetail, c.Model.Tokens, c.Model.SemanticWidth);
        var nsd = ReferenceSizes.NsdSubject1;
        // At NSD subject 1's sizes the matched references are the published ones (MindBridge with its text head).
        return sizes.Voxels == nsd.Voxels && sizes.Tokens == nsd.Tokens && sizes.Width == nsd.Width ? nsd : sizes;
    }

    public static IReadOnlyList<ModuleCount> Compute(BrainMClipConfig c, long voxelsDetail, long voxelsSemantic)
    {
        var m = c.Model;
        long h = m.Hidden, t = m.Tokens;
        bool lowRank = c.EffectiveHead == "low_rank";
        bool decoders = c.UsesRec || c.UsesCross;

        ModuleCount Encoder(string name, long n, long width)
        {
            // model.encoder "linear": the head reads the voxels, no input layer or blocks.
            if (m.LinearEncoder)
                return new ModuleCount(name, LayerCount.Linear(n, t * width),
                    new Dictionary<string, long> { ["head"] = LayerCount.Linear(n, t * width) });
            var parts = new Dictionary<string, long>
            {
                ["input"] = LayerCount.Linear(n, h) + LayerCount.LayerNorm(h),
                ["blocks"] = m.Blocks * (LayerCount.Linear(h, h) + LayerCount.LayerNorm(h)),
                // Low-rank: Linear(H→T·r), shared Linear(r→C) without bias, learned (T,C) bias; full: Linear(H→T·C).
                ["head"] = lowRank
                    ? LayerCount.Linear(h, t * m.Rank) + LayerCount.Linear(m.Rank, width, bias: false) + t * width
                    : LayerCount.Linear(h, t * width),
            };
            return new ModuleCount(name, parts.Values.Sum(), parts);
        }
        ModuleCount Decoder(string name, long n)
        {
            var parts = new Dictionary<string, long>
            {
                ["hidden"] = LayerCount.Linear(h, h) + LayerCount.LayerNorm(h),
                ["output"] = LayerCount.Linear(h, n),
            };
            return new ModuleCount(name, parts.Values.Sum(), parts);
        }

        var list = new List<ModuleCount>();
        if (c.UsesDetail) list.Add(Encoder("encoder_detail", voxelsDetail, m.DetailWidth));
        if (c.UsesSemantic) list.Add(Encoder("encoder_semantic", voxelsSemantic, m.SemanticWidth));
        if (decoders && c.UsesDetail) list.Add(Decoder("decoder_detail", voxelsDetail));
        if (decoders && c.UsesSemantic) list.Add(Decoder("decoder_semantic", voxelsSemantic));
        if (c.UsesDetail)
        {
            long f = LayerCount.Linear(m.DetailWidth, m.SemanticWidth);
            list.Add(new ModuleCount("fusion", f, new Dictionary<string, long> { ["map"] = f }));
        }
        return list;
    }
}
