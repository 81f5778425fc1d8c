using BrainMClip.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>What <see cref="ClipVisionModel.Run"/> should return besides the always-computed outputs.</summary>
public sealed record ClipRunOptions
{
    /// <summary>Inclusive range of hidden-state indices (0 = pre_layrnorm output, k = block k) to average into
    /// DetailMean; null = skip.</summary>
    public (int First, int Last)? DetailLayers { get; init; }
    /// <summary>Hidden-state indices to return (0..L); null or empty = none. Only these are kept in memory.</summary>
    public IReadOnlyCollection<int>? HiddenStates { get; init; }

    public static ClipRunOptions AllHiddenStates(int numLayers, (int, int)? detail = null) =>
        new() { HiddenStates = Enumerable.Range(0, numLayers + 1).ToArray(), DetailLayers = detail };

    /// <summary>Parses "a-b" (or a single "k") into an inclusive hidden-state range valid for a model of <paramref
    /// name="numLayers"/> blocks.</summary>
    /// <param name="field">The setting the range came from, for the error (<see cref="UserInputException.Field"/>).
    /// </param>
    public static (int First, int Last) ParseLayerRange(string text, int numLayers,
        string field = nameof(DetailLayers))
    {
        var parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], out int a) || !int.TryParse(parts[^1], out int b))
            throw UserInputException.Invalid(field,
                $"hidden-state range {text}: expected a range like 11-20 (hidden-state indices, inclusive)");
        if (a < 0 || b < a || b > numLayers)
            throw UserInputException.Invalid(field,
                $"hidden-state range {text}: expected 0 <= first <= last <= {numLayers} (the model has {numLayers} " +
                $"layers; 0 = pre_layrnorm output)");
        return (a, b);
    }
}

/// <summary>Outputs of one forward pass, batch-first; dispose to free them.</summary>
public sealed class ClipVisionOutput : IDisposable
{
    /// <summary>Requested hidden states (B, T, W) by index (0 = pre_layrnorm output, k = output of block k).</summary>
    public required IReadOnlyDictionary<int, Tensor> HiddenStates { get; init; }
    /// <summary>Output of the last block, before post_layernorm (B, T, W).</summary>
    public required Tensor LastHiddenState { get; init; }
    /// <summary>post_layernorm of the CLS token (B, W).</summary>
    public required Tensor PoolerOutput { get; init; }
    /// <summary>visual_projection(pooler_output) (B, P).</summary>
    public required Tensor ImageEmbeds { get; init; }
    /// <summary>CLIP-Semantic: Versatile-Diffusion image context (B, T, P); token 0 has unit norm.</summary>
    public required Tensor VdTokens { get; init; }
    /// <summary>CLIP-Detail: mean of the hidden states in the requested range (B, T, W), or null.</summary>
    public Tensor? DetailMean { get; init; }

    public void Dispose()
    {
        foreach (var t in HiddenStates.Values) t.Dispose();
        LastHiddenState.Dispose(); PoolerOutput.Dispose(); ImageEmbeds.Dispose(); VdTokens.Dispose();
        DetailMean?.Dispose();
    }
}

/// <summary>
/// CLIP vision transformer with projection (Hugging Face <c>CLIPVisionModelWithProjection</c> semantics). Its
/// state-dict keys are exactly HF's, so <see cref="FromPretrained"/> loads HF folders with strict key and shape checks.
/// </summary>
public sealed class ClipVisionModel : nn.Module
{
    readonly ClipVisionTransformer vision_model;
    readonly Linear visual_projection;

    public ClipVisionConfig Config { get; }
    /// <summary>The folder it was loaded from (null for a model built in memory).</summary>
    public string? Source { get; private set; }

    public ClipVisionModel(ClipVisionConfig config) : base(nameof(ClipVisionModel))
    {
        Config = config.Validate();
        vision_model = new ClipVisionTransformer(config);
        visual_projection = nn.Linear(config.HiddenSize, config.ProjectionDim, hasBias: false);
        RegisterComponents();
        eval();
    }

    public Device Device => visual_projection.weight!.device;

    /// <summary>
    /// Loads an HF folder: <c>config.json</c> + <c>model.safetensors</c> (CLIPVisionModelWithProjection, or a full
    /// CLIPModel whose text tower is ignored). Half-precision weights are converted to float32.
    /// </summary>
    public static ClipVisionModel FromPretrained(string folder, Device? device = null)
    {
        UserInputException.RequireDirectory(folder, "CLIP checkpoint");
        var config = ClipVisionConfig.FromFile(Path.Combine(folder, "config.json"));
        var files = WeightFiles(folder);
        // Check the config against the weights on disk before allocating: a corrupt config could ask for terabytes.
        long onDisk = files.Sum(f => File.Exists(f) ? new FileInfo(f).Length : 0);
        long needed = ParameterCount(config);
        if (needed > onDisk / 2) // 2 bytes = the smallest stored element type (F16/BF16)
            throw new UserInputException(
                $"{Path.Combine(folder, "config.json")}: the config describes a model of " +
                $"{(needed == long.MaxValue ? "more than 2^63" : needed.ToString())} parameters, " +
                $"but the weight files hold only {onDisk} bytes (check hidden_size, intermediate_size, " +
                    $"num_hidden_layers, image_size, patch_size, projection_dim)");
        var model = new ClipVisionModel(config);
        model.LoadSafeTensors(files);
        model.Source = Path.GetFullPath(folder);
        if (device != null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    /// <summary>Parameters of the vision tower and projection for <paramref name="c"/> (long.MaxValue when it
    /// overflows).</summary>
    public static long ParameterCount(ClipVisionConfig c)
    {
        try
        {
            checked
            {
                long w = c.HiddenSize, i = c.IntermediateSize, grid = c.ImageSize / c.PatchSize, tokens = 1
                    + grid * grid;
                long embeddings = w + w * c.NumChannels * c.PatchSize * c.PatchSize + tokens * w;
                long layer = 4 * (w * w + w) + (i * w + i) + (w * i + w) + 4 * w;
                return embeddings + 4 * w + c.NumHiddenLayers * layer + (long)c.ProjectionDim * w;
            }
        }
        catch (OverflowException) { return long.MaxValue; }
    }

    /// <summary><c>model.safetensors</c>, or the files listed by a sharded checkpoint's
    /// <c>model.safetensors.index.json</c>.</summary>
    static IReadOnlyList<string> WeightFiles(string folder)
    {
        string single = Path.Combine(folder, "model.safetensors");
        if (File.Exists(single)) return [single];
        string index = Path.Combine(folder, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            try
            {
                var map = System.Text.Json.Nodes.JsonNode.Parse(
                    File.ReadAllText(index))?["weight_map"] as System.Text.Json.Nodes.JsonObject
                          ?? throw new UserInputException($"{index}: no 'weight_map' object");
                return map.Select(kv => Path.Combine(folder, kv.Value!.GetValue<string>())).Distinct()
                    .Order(StringComparer.Ordinal).ToList();
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
            {
                throw new UserInputException($"{index}: malformed index ({e.Message})");
            }
        }
        throw new UserInputException(
            $"{single}: CLIP weights not found (expected a Hugging Face folder with model.safetensors or " +
            $"model.safetensors.index.json; convert a pytorch_model.bin with the safetensors convert script)");
    }

    /// <summary>Keys in a checkpoint that are not part of the vision tower and are skipped on purpose.</summary>
    static bool IsIgnoredKey(string key) =>
        key.StartsWith("text_model.", StringComparison.Ordinal)
            || key.StartsWith("text_projection", StringComparison.Ordinal) ||
        key == "logit_scale" || key.EndsWith("position_ids", StringComparison.Ordinal);

    /// <summary>
    /// Copies weights from safetensors file(s), failing on any missing, unexpected or wrongly shaped key (all problems
    /// are listed, each naming the key). Half-precision tensors are converted to the parameters' float32.
    /// </summary>
    public void LoadSafeTensors(IReadOnlyList<string> paths) =>
        StateDictLoader.LoadFiles(this, paths,
            new StateDictOptions { Ignored = IsIgnoredKey, What = "the CLIP vision config" });

    static string Shape(IEnumerable<long> s) => string.Join(",", s);

    /// <summary>
    /// Runs the tower on normalised pixels (B, C, S, S) under no_grad. Always returns the last hidden state, pooler
    /// output, image_embeds and VD tokens; hidden states and the detail mean only as requested.
    /// </summary>
    public ClipVisionOutput Run(Tensor pixelValues, ClipRunOptions opts)
    {
        var c = Config;
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != c.NumChannels || pixelValues.shape[2] != c.ImageSize
            || pixelValues.shape[3] != c.ImageSize)
            throw new UserInputException(
                $"pixel_values has shape [{Shape(pixelValues.shape)}]; this model expects " +
                $"[N,{c.NumChannels},{c.ImageSize},{c.ImageSize}]");
        if (!pixelValues.is_floating_point())
            throw new UserInputException(
                $"pixel_values has dtype {pixelValues.dtype}; expected floating point (normalised pixels)");
        (int a, int b)? range = opts.DetailLayers;
        if (range is { } r && (r.a < 0 || r.b < r.a || r.b > c.NumHiddenLayers))
            throw new UserInputException($"detail layer range {r.a}-{r.b} is outside 0..{c.NumHiddenLayers}");
        var keep = new HashSet<int>(opts.HiddenStates ?? []);
        foreach (var k in keep)
            if (k < 0
                || k > c.NumHiddenLayers) throw new UserInputException(
                $"hidden state {k} is outside 0..{c.NumHiddenLayers}");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = pixelValues.to(ScalarType.Float32, Device);
        var kept = new Dictionary<int, Tensor>();
        Tensor? detailSum = null;
        var h = vision_model.pre_layrnorm.call(vision_model.embeddings.call(x));
        void Visit(int index, Tensor state)
        {
            if (keep.Contains(index)) kept[index] = state.alias(); // shares storage; the loop may drop `state`
            if (range is { } rr && index >= rr.a && index <= rr.b)
                detailSum = detailSum is null ? state.clone() : detailSum.add_(state);
        }
        Visit(0, h);
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            var prev = h;
            using (var layerScope = NewDisposeScope())
                h = vision_model.encoder.layers[i].call(prev).MoveToOuterDisposeScope();
            prev.Dispose(); // hidden states not asked for are freed as we go (kept ones live on as aliases)
            Visit(i + 1, h);
        }
        var pooled = vision_model.post_layernorm.call(h.select(1, 0));
        var embeds = visual_projection.call(pooled);
        // CLIP-Semantic (docs/features.md): post_layernorm and projection on every token, then divide by the CLS
        // token's norm.
        var z = visual_projection.call(vision_model.post_layernorm.call(h));
        var vd = z / z.select(1, 0).norm(1, keepdim: true).unsqueeze(1);
        Tensor? detail = range is { } r2 ? detailSum!.div_(r2.b - r2.a + 1) : null;

        var output = new ClipVisionOutput
        {
            HiddenStates = kept.ToDictionary(kv => kv.Key, kv => kv.Value.MoveToOuterDisposeScope()),
            LastHiddenState = h.MoveToOuterDisposeScope(),
            PoolerOutput = pooled.MoveToOuterDisposeScope(),
            ImageEmbeds = embeds.MoveToOuterDisposeScope(),
            VdTokens = vd.MoveToOuterDisposeScope(),
            DetailMean = detail?.MoveToOuterDisposeScope(),
        };
        return output;
    }

    /// <summary>
    /// Forward pass with autograd (for training): the hidden state after block <paramref name="tapLayer"/>
    /// (0 = pre_layrnorm output; B, T, W) and visual_projection(post_layernorm(·)) of every final token (B, T, P),
    /// before <see cref="Run"/>'s division by the CLS token's norm.
    /// </summary>
    internal (Tensor Tap, Tensor Projected) ForwardForTraining(Tensor pixelValues, int tapLayer)
    {
        if (tapLayer < 0 || tapLayer > Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(tapLayer),
                $"{tapLayer} is outside 0..{Config.NumHiddenLayers}");
        var h = vision_model.pre_layrnorm.call(vision_model.embeddings.call(pixelValues));
        var tap = h;
        for (int i = 0; i < Config.NumHiddenLayers; i++)
        {
            h = vision_model.encoder.layers[i].call(h);
            if (i + 1 == tapLayer) tap = h;
        }
        return (tap, visual_projection.call(vision_model.post_layernorm.call(h)));
    }

    /// <summary>
    /// Treats <paramref name="hidden"/> (B, T, W) as hidden_states[<paramref name="fromLayer"/>] and runs the remaining
    /// blocks, post_layernorm and the projection on every token; returns the VD tokens (B, T, P), CLS-normalised.
    /// This is the fusion option (docs/model.md) <c>propagate</c> (a predicted CLIP-Detail pushed through the rest of
    /// CLIP).
    /// </summary>
    public Tensor PropagateToVdTokens(Tensor hidden, int fromLayer)
    {
        var c = Config;
        if (fromLayer < 0 || fromLayer > c.NumHiddenLayers)
            throw new UserInputException($"propagate: layer {fromLayer} is outside 0..{c.NumHiddenLayers}");
        if (hidden.dim() != 3 || hidden.shape[1] != c.NumTokens || hidden.shape[2] != c.HiddenSize)
            throw new UserInputException(
                $"propagate: tokens have shape [{Shape(hidden.shape)}]; this CLIP expects " +
                $"[N,{c.NumTokens},{c.HiddenSize}]");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var h = hidden.to(ScalarType.Float32, Device);
        for (int i = fromLayer; i < c.NumHiddenLayers; i++) h = vision_model.encoder.layers[i].call(h);
        var z = visual_projection.call(vision_model.post_layernorm.call(h));
        return (z / z.select(1, 0).norm(1, keepdim: true).unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>The vision tower's state dict in HF key order (for writing checkpoints).</summary>
    public Dictionary<string, Tensor> StateDictForSaving() => state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
}
