using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace BrainMClip.Model;

/// <summary>Network shape (docs/model.md). Token count and widths come from the features file at training
/// time.</summary>
public sealed record ModelSection
{
    public int Tokens { get; init; } = 257;
    public int DetailWidth { get; init; } = 1024;
    public int SemanticWidth { get; init; } = 768;
    public int Hidden { get; init; } = 2048;
    public int Blocks { get; init; } = 4;
    public int Rank { get; init; } = 64;
    /// <summary>"low_rank" (default) or "full".</summary>
    public string Head { get; init; } = "low_rank";
    public double DropoutInput { get; init; } = 0.5;
    public double DropoutBlocks { get; init; } = 0.15;
    /// <summary>
    /// Ours: the detail encoder's dropout (after its input layer and in its blocks); null = dropout_input and
    /// dropout_blocks, as the semantic encoder. The detail target is a pixel-level map whose fine directions a heavily
    /// regularised encoder does not learn (docs/evidence.md § 6).
    /// </summary>
    public double? DropoutDetail { get; init; }
    /// <summary>
    /// Ours: the token head's last weight starts at zero (its bias at the mean training target), so training starts
    /// from the mean prediction instead of a random one — matters with few samples.
    /// </summary>
    public bool ZeroInitHead { get; init; }
    /// <summary>
    /// Ours: each encoder's token output adds a fixed linear map of its voxels, fitted in closed form before training
    /// (ridge regression on all training rows, alpha chosen by the <c>ridge</c> section's k-fold CV — exactly the
    /// ridge baseline's map). The network then learns only the residual, with the SoftCLIP/token
    /// losses the baseline lacks; with zero_init_head it starts from the ridge prediction. The map is not trained
    /// (a buffer in checkpoints, not a parameter). Default off (the model in docs/model.md has no linear path).
    /// </summary>
    public bool RidgeSkip { get; init; }
    /// <summary>
    /// Ours, with ridge_skip: during training the linear path's output for each training row is its out-of-fold
    /// prediction (the ridge section's k folds, each map fitted without that row), as in stacking, so the residual
    /// learns to correct the errors the map makes on unseen samples and the validation score is honest; prediction
    /// uses the map fitted on all rows. Falls back to the all-rows map when the out-of-fold table would exceed 2 GB.
    /// </summary>
    public bool RidgeSkipOutOfFold { get; init; } = true;
    /// <summary>
    /// Ours: "mlp" (null, the default: input layer, residual blocks, token head) or "linear" — the token head reads the
    /// voxels directly (dropout_input applied to the voxels), no hidden layer: the matched linear baseline trained with
    /// the same loss, schedule and checkpoint rule (docs/evidence.md). Null is not written to config.json, so configs
    /// that do not set it keep their bytes and hashes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Encoder { get; init; }
    [JsonIgnore] public bool LinearEncoder => Encoder == "linear";
}

/// <summary>Multi-granularity loss weights (docs/model.md).</summary>
public sealed record LossSection
{
    public double WDetail { get; init; } = 1;
    public double WSemantic { get; init; } = 1;
    public double Alpha { get; init; } = 10000;
    /// <summary>Ours: α of the detail stream (the weight of its fine-grained MSE term); null = alpha.</summary>
    public double? AlphaDetail { get; init; }
    public double Beta { get; init; } = 1;
    public double WRec { get; init; } = 1;
    public double WCross { get; init; } = 1;
    public double Temperature { get; init; } = 0.005;
}

public sealed record FusionSection
{
    public double Lambda { get; init; } = 0.25;
}

/// <summary>MindBridge's recipe (docs/model.md, Training).</summary>
public sealed record TrainingSection
{
    public int Epochs { get; init; } = 200;
    public int BatchSize { get; init; } = 50;
    public double MaxLr { get; init; } = 3e-4;
    public double WeightDecay { get; init; } = 0.01;
    public double GradClip { get; init; } = 1.0;
    /// <summary>OneCycle warm-up length in epochs: pct_start = warmup_epochs / epochs (capped at 0.5).</summary>
    public double WarmupEpochs { get; init; } = 2;
    public double FinalDivFactor { get; init; } = 100;
    /// <summary>
    /// Ours: clip the gradient norm of each stream (its encoder and decoder) separately instead of all parameters
    /// together, so one stream's large gradients do not shrink the other's step. Default off (MindBridge clips
    /// jointly).
    /// </summary>
    public bool ClipPerStream { get; init; }
    public double ValFraction { get; init; } = 0.1;
    public long Seed { get; init; } = 0;
    /// <summary>
    /// MindEye's BiMixCo: during the first <c>mixup_fraction</c> of the epochs each batch mixes half of its samples
    /// with a partner (voxels and targets, weights ~ Beta(0.15, 0.15)) and the global term is the MixCo loss;
    /// afterwards plain SoftCLIP. 0 (default) disables it; MindEye used 0.33.
    /// </summary>
    public double MixupFraction { get; init; }
    /// <summary>
    /// Ours (the "epoch-0 rule"), with model.ridge_skip and zero_init_head: the linear map alone is saved as epoch 0
    /// and a trained epoch becomes best.ckpt only if its validation cosines beat the map's significantly (paired,
    /// mean gain &gt; 2 standard errors). Default off: the best trained epoch is kept.
    /// </summary>
    public bool KeepLinearUnlessBetter { get; init; }
    /// <summary>
    /// Ours: what picks best.ckpt — "cosine" (validation cosine of ê_S, docs/model.md's rule), "retrieval" (the mean
    /// of both directions' top-1 over the validation rows, semantic stream) or "retrieval_both" (that score averaged
    /// over the semantic and the detail stream). With a contrast-heavy loss the cosine falls while retrieval rises
    /// (docs/evidence.md), and "cosine" can then keep a barely trained epoch.
    /// </summary>
    public string SelectBy { get; init; } = "cosine";

    /// <summary>Epochs (from the start) that use BiMixCo.</summary>
    [JsonIgnore] public int MixupEpochs => (int)Math.Floor(MixupFraction * Epochs);
}

/// <summary>Ablation switches (docs/model.md).</summary>
public sealed record AblationSection
{
    public bool NoCross { get; init; }
    public bool NoRec { get; init; }
    public bool SemanticOnly { get; init; }
    public bool DetailOnly { get; init; }
    public bool GlobalOnly { get; init; }
    /// <summary>Drops the global SoftCLIP term: each stream is trained with the token cosine and MSE terms
    /// only.</summary>
    public bool TokenOnly { get; init; }
    public bool FullHeads { get; init; }
}

/// <summary>Closed-form ridge baseline (Brain-Diffuser style): alpha grid searched by k-fold CV on train.</summary>
public sealed record RidgeSection
{
    public double[] Alphas { get; init; } = [1, 10, 100, 1e3, 1e4, 3e4, 6e4, 1e5, 3e5, 1e6];
    public int Folds { get; init; } = 5;
    /// <summary>Ridge alpha for the token-wise fusion map P (e_D → e_S), fitted on ground-truth pairs.</summary>
    public double FusionAlpha { get; init; } = 1.0;
    /// <summary>
    /// What picks alpha: "cv_cosine" (null, the default: k-fold CV, mean held-out cosine) or "validation_retrieval"
    /// (ours, the matched baseline of docs/evidence.md: each stream's alpha maximises the mean of both directions'
    /// top-1 on the network's own validation rows — training.val_fraction and training.seed — then the map is refitted
    /// on all rows). Null is not written to config.json, so configs that do not set it keep their bytes and hashes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SelectBy { get; init; }
    [JsonIgnore] public bool SelectByValidationRetrieval => SelectBy == "validation_retrieval";
}

/// <summary>
/// The complete, resolved configuration of a run (written to RUN/config.json). JSON uses snake_case names;
/// unknown fields and out-of-range values are rejected with the field named. A user file may start from a preset
/// with <c>"base": "tiny"</c> and override only some fields; fields it omits take the documented defaults
/// (docs/model.md) (or the base's).
/// </summary>
public sealed record BrainMClipConfig
{
    /// <summary>"brainmclip" (the neural model) or "ridge" (the closed-form baseline).</summary>
    public string Kind { get; init; } = "brainmclip";
    public string Name { get; init; } = "custom";
    public ModelSection Model { get; init; } = new();
    public LossSection Loss { get; init; } = new();
    public FusionSection Fusion { get; init; } = new();
    public TrainingSection Training { get; init; } = new();
    public AblationSection Ablation { get; init; } = new();
    public RidgeSection Ridge { get; init; } = new();

    [JsonIgnore] public bool IsRidge => Kind == "ridge";
    [JsonIgnore] public bool UsesDetail => !Ablation.SemanticOnly;
    [JsonIgnore] public bool UsesSemantic => !Ablation.DetailOnly;
    [JsonIgnore] public bool UsesRec => !Ablation.NoRec && Loss.WRec > 0;
    /// <summary>Cross-reconstruction needs both streams.</summary>
    [JsonIgnore] public bool UsesCross => !Ablation.NoCross && Loss.WCross > 0 && UsesDetail && UsesSemantic;
    [JsonIgnore] public string EffectiveHead => Ablation.FullHeads ? "full" : Model.Head;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>
    /// The presets: JSON resources (src/BrainMClip.Core/Model/Presets/NAME.json), read exactly like user files and
    /// through the same validation. What each is and the measurements behind it: docs/model.md, "Presets".
    /// </summary>
    public static readonly IReadOnlyList<string> PresetNames =
        ["tiny", "tiny-recon", "paper", "ridge", "linear", "ridge-retrieval-alpha"];

    static string PresetJson(string name)
    {
        if (!PresetNames.Contains(name))
            throw new UserInputException(
                $"unknown config preset '{name}' (expected {string.Join(", ", PresetNames)} or a .json file)");
        using var stream = typeof(BrainMClipConfig).Assembly
            .GetManifestResourceStream($"BrainMClip.Presets.{name}.json")
            ?? throw new InvalidOperationException($"preset resource '{name}.json' is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>A preset name (tiny, paper, ridge) or a path to a JSON file.</summary>
    public static BrainMClipConfig Resolve(string presetOrPath)
    {
        if (PresetNames.Contains(presetOrPath)) return Parse(PresetJson(presetOrPath), $"preset '{presetOrPath}'");
        if (!File.Exists(presetOrPath))
            throw new UserInputException(
                $"configuration {presetOrPath}: not a preset ({string.Join(", ", PresetNames)}) and no such file");
        return Parse(File.ReadAllText(presetOrPath), presetOrPath);
    }

    public static BrainMClipConfig Preset(string name) => Parse(PresetJson(name), $"preset '{name}'");

    /// <summary>Parses config JSON (with optional "base" preset) and validates it; <paramref name="source"/> names it
    /// in errors.</summary>
    public static BrainMClipConfig Parse(string json, string source)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json,
                documentOptions: new JsonDocumentOptions
                { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                  ?? throw new UserInputException($"{source}: expected a JSON object");
        }
        catch (JsonException e) { throw new UserInputException($"{source}: invalid JSON ({e.Message})"); }

        // A preset may itself start from another ("tiny-recon" from "tiny"): expand until no base is left.
        while (obj["base"] is { } baseNode)
        {
            string baseName = baseNode is JsonValue v && v.TryGetValue(out string? s) ? s
                : throw new UserInputException($"{source}: field 'base' must be a preset name string");
            if (!PresetNames.Contains(baseName))
                throw new UserInputException(
                    $"{source}: field 'base' = '{baseName}' is not a preset ({string.Join(", ", PresetNames)})");
            var merged = (JsonObject)JsonNode.Parse(PresetJson(baseName))!;
            obj.Remove("base");
            Merge(merged, obj);
            obj = merged;
        }

        BrainMClipConfig cfg;
        try
        {
            cfg = obj.Deserialize<BrainMClipConfig>(Json) ?? throw new UserInputException($"{source}: empty config");
        }
        catch (JsonException e)
        {
            throw new UserInputException(
                $"{source}: field '{(e.Path ?? "$").TrimStart('$', '.')}': {FirstSentence(e.Message)}");
        }
        cfg.Validate(source);
        return cfg;
    }

    static string FirstSentence(string m)
    {
        int i = m.IndexOf(". Path:", StringComparison.Ordinal);
        return i > 0 ? m[..i] : m;
    }

    static void Merge(JsonObject into, JsonObject from)
    {
        foreach (var (k, v) in from.ToList())
        {
            if (v is JsonObject vo && into[k] is JsonObject io) Merge(io, vo);
            else into[k] = v?.DeepClone();
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// SHA-256 (lower-case hex) of <see cref="ToJson"/>: the identity of a resolved configuration, printed by
    /// `train` and `params` and quoted by the preregistration (docs/evidence/preregistration.md).
    /// </summary>
    public string Sha256() => Convert.ToHexStringLower(
        System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ToJson())));

    /// <summary>Throws <see cref="UserInputException"/> naming the first out-of-range field.</summary>
    public void Validate(string source)
    {
        void Req(bool ok, string field, string expected, object? value)
        {
            if (!ok) throw new UserInputException($"{source}: field '{field}' = {value}: expected {expected}");
        }
        foreach (var (section, value) in new (string, object?)[]
            { ("model", Model), ("loss", Loss), ("fusion", Fusion), ("training", Training), ("ablation", Ablation),
            ("ridge", Ridge) })
            if (value is null) throw new UserInputException($"{source}: field '{section}' = null: expected an object");
        Req(Kind is "brainmclip" or "ridge", "kind", "\"brainmclip\" or \"ridge\"", Kind);
        var m = Model;
        Req(m.Tokens >= 1, "model.tokens", ">= 1", m.Tokens);
        Req(m.DetailWidth >= 1, "model.detail_width", ">= 1", m.DetailWidth);
        Req(m.SemanticWidth >= 1, "model.semantic_width", ">= 1", m.SemanticWidth);
        Req(m.Hidden >= 1, "model.hidden", ">= 1", m.Hidden);
        Req(m.Blocks >= 0, "model.blocks", ">= 0", m.Blocks);
        Req(m.Rank >= 1, "model.rank", ">= 1", m.Rank);
        Req(m.Head is "low_rank" or "full", "model.head", "\"low_rank\" or \"full\"", m.Head);
        Req(m.DropoutInput is >= 0 and < 1, "model.dropout_input", "a value in [0, 1)", m.DropoutInput);
        Req(m.DropoutBlocks is >= 0 and < 1, "model.dropout_blocks", "a value in [0, 1)", m.DropoutBlocks);
        Req(m.DropoutDetail is null or (>= 0 and < 1), "model.dropout_detail", "null or a value in [0, 1)",
            m.DropoutDetail);
        Req(m.Encoder is null or "mlp" or "linear", "model.encoder", "\"mlp\" or \"linear\"", m.Encoder);
        Req(!m.LinearEncoder || !(UsesRec || UsesCross), "model.encoder",
            "\"mlp\" when loss.w_rec or loss.w_cross is > 0 (the linear encoder has no latent to reconstruct from)",
            m.Encoder);
        var l = Loss;
        Req(l.WDetail >= 0 && double.IsFinite(l.WDetail), "loss.w_detail", ">= 0", l.WDetail);
        Req(l.WSemantic >= 0 && double.IsFinite(l.WSemantic), "loss.w_semantic", ">= 0", l.WSemantic);
        Req(l.Alpha >= 0 && double.IsFinite(l.Alpha), "loss.alpha", ">= 0", l.Alpha);
        Req(l.AlphaDetail is null || (l.AlphaDetail >= 0 && double.IsFinite(l.AlphaDetail.Value)), "loss.alpha_detail",
            "null or >= 0", l.AlphaDetail);
        Req(l.Beta >= 0 && double.IsFinite(l.Beta), "loss.beta", ">= 0", l.Beta);
        Req(l.WRec >= 0 && double.IsFinite(l.WRec), "loss.w_rec", ">= 0", l.WRec);
        Req(l.WCross >= 0 && double.IsFinite(l.WCross), "loss.w_cross", ">= 0", l.WCross);
        Req(l.Temperature > 0 && double.IsFinite(l.Temperature), "loss.temperature", "> 0", l.Temperature);
        Req(Fusion.Lambda is >= 0 and <= 1, "fusion.lambda", "a value in [0, 1]", Fusion.Lambda);
        var t = Training;
        Req(t.Epochs >= 1, "training.epochs", ">= 1", t.Epochs);
        Req(t.BatchSize >= 2, "training.batch_size", ">= 2 (the SoftCLIP loss contrasts samples within a batch)",
            t.BatchSize);
        Req(t.MaxLr > 0 && double.IsFinite(t.MaxLr), "training.max_lr", "> 0", t.MaxLr);
        Req(t.WeightDecay >= 0 && double.IsFinite(t.WeightDecay), "training.weight_decay", ">= 0", t.WeightDecay);
        Req(t.GradClip > 0 && double.IsFinite(t.GradClip), "training.grad_clip", "> 0", t.GradClip);
        Req(t.WarmupEpochs > 0 && double.IsFinite(t.WarmupEpochs), "training.warmup_epochs", "> 0", t.WarmupEpochs);
        Req(t.FinalDivFactor >= 1 && double.IsFinite(t.FinalDivFactor), "training.final_div_factor", ">= 1",
            t.FinalDivFactor);
        Req(t.ValFraction is >= 0 and < 0.9, "training.val_fraction", "a value in [0, 0.9)", t.ValFraction);
        Req(t.Seed >= 0, "training.seed", ">= 0", t.Seed);
        Req(t.SelectBy is "cosine" or "retrieval" or "retrieval_both", "training.select_by",
            "\"cosine\", \"retrieval\" or \"retrieval_both\"", t.SelectBy);
        Req(t.MixupFraction is >= 0 and <= 1, "training.mixup_fraction", "a value in [0, 1]", t.MixupFraction);
        Req(!t.KeepLinearUnlessBetter || (m.RidgeSkip && m.ZeroInitHead), "training.keep_linear_unless_better",
            "false unless model.ridge_skip and model.zero_init_head are true (it compares epochs with the linear map)",
                t.KeepLinearUnlessBetter);
        Req(!(Ablation.SemanticOnly && Ablation.DetailOnly), "ablation.semantic_only",
            "not both semantic_only and detail_only", "true");
        Req(!(Ablation.GlobalOnly && Ablation.TokenOnly), "ablation.token_only", "not both global_only and token_only",
            "true");
        Req(Ridge.Alphas is { Length: > 0 } && Ridge.Alphas.All(a => a > 0 && double.IsFinite(a)), "ridge.alphas",
            "a non-empty list of positive numbers", Ridge.Alphas is null ? "null" : "[" + string.Join(",", Ridge.Alphas)
                + "]");
        Req(Ridge.Folds >= 2, "ridge.folds", ">= 2", Ridge.Folds);
        Req(Ridge.FusionAlpha > 0, "ridge.fusion_alpha", "> 0", Ridge.FusionAlpha);
        Req(Ridge.SelectBy is null or "cv_cosine" or "validation_retrieval", "ridge.select_by",
            "\"cv_cosine\" or \"validation_retrieval\"", Ridge.SelectBy);
    }

    /// <summary>OneCycle pct_start = warm-up epochs / epochs, capped at 0.5 so short runs still anneal.</summary>
    [JsonIgnore] public double PctStart => Math.Min(Training.WarmupEpochs / Training.Epochs, 0.5);
}
