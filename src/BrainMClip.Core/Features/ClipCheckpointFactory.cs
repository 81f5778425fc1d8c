using System.Text.Json.Nodes;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Features;

/// <summary>
/// Writes a Hugging Face-layout CLIP vision folder (<c>config.json</c>, <c>model.safetensors</c>,
/// <c>preprocessor_config.json</c>) with seeded random weights, so the demo and tests need no download.
/// </summary>
public static class ClipCheckpointFactory
{
    /// <summary>
    /// Initialises like HF's <c>CLIPPreTrainedModel._init_weights</c> (factor 1): embeddings N(0, width^-0.5 / 0.02),
    /// q/k/v N(0, width^-0.5·(2L)^-0.5), out_proj N(0, width^-0.5), fc1 N(0, (2·width)^-0.5), fc2 like q/k/v,
    /// projection N(0, width^-0.5), LayerNorms 1/0, biases 0. Same seed and config ⇒ byte-identical files.
    /// </summary>
    public static void CreateRandom(string folder, ClipVisionConfig cfg, int seed)
    {
        using var scope = NewDisposeScope();
        WriteFolder(folder, cfg, RandomWeights(cfg, seed));
    }

    /// <summary>The seeded initial weights <see cref="CreateRandom"/> writes (HF keys), in the caller's dispose
    /// scope.</summary>
    public static Dictionary<string, Tensor> RandomWeights(ClipVisionConfig cfg, int seed)
    {
        cfg.Validate();
        var gen = new Generator((ulong)seed);
        double w = cfg.HiddenSize, inStd = Math.Pow(w, -0.5) * Math.Pow(2 * cfg.NumHiddenLayers, -0.5);
        Tensor N(double std, params long[] shape) => normal(0, std, shape, generator: gen);
        var t = new Dictionary<string, Tensor>
        {
            ["vision_model.embeddings.class_embedding"] = N(Math.Pow(w, -0.5), cfg.HiddenSize),
            ["vision_model.embeddings.patch_embedding.weight"] = N(0.02, cfg.HiddenSize, cfg.NumChannels, cfg.PatchSize,
                cfg.PatchSize),
            ["vision_model.embeddings.position_embedding.weight"] = N(0.02, cfg.NumTokens, cfg.HiddenSize),
            ["visual_projection.weight"] = N(Math.Pow(w, -0.5), cfg.ProjectionDim, cfg.HiddenSize),
        };
        void Norm(string prefix)
        {
            t[prefix + ".weight"] = ones(cfg.HiddenSize);
            t[prefix + ".bias"] = zeros(cfg.HiddenSize);
        }
        void Lin(string prefix, double std, int outF, int inF)
        {
            t[prefix + ".weight"] = N(std, outF, inF);
            t[prefix + ".bias"] = zeros(outF);
        }
        Norm("vision_model.pre_layrnorm");
        Norm("vision_model.post_layernorm");
        for (int i = 0; i < cfg.NumHiddenLayers; i++)
        {
            string p = $"vision_model.encoder.layers.{i}.";
            foreach (var n in new[] { "q_proj", "k_proj", "v_proj" }) Lin(p + "self_attn." + n, inStd, cfg.HiddenSize,
                cfg.HiddenSize);
            Lin(p + "self_attn.out_proj", Math.Pow(w, -0.5), cfg.HiddenSize, cfg.HiddenSize);
            Lin(p + "mlp.fc1", Math.Pow(2 * w, -0.5), cfg.IntermediateSize, cfg.HiddenSize);
            Lin(p + "mlp.fc2", inStd, cfg.HiddenSize, cfg.IntermediateSize);
            Norm(p + "layer_norm1");
            Norm(p + "layer_norm2");
        }
        return t;
    }

    /// <summary>Writes the HF folder (weights, config.json, preprocessor_config.json) for the given weights.</summary>
    public static void WriteFolder(string folder, ClipVisionConfig cfg, IReadOnlyDictionary<string, Tensor> t)
    {
        Directory.CreateDirectory(folder);
        SafeTensors.Save(Path.Combine(folder, "model.safetensors"), t,
            new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), cfg.ToJson());
        AtomicFile.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), PreprocessorJson(cfg.ImageSize));
    }

    /// <summary>CLIP's preprocessor_config.json at the given input size.</summary>
    public static string PreprocessorJson(int size) => new JsonObject
    {
        ["image_processor_type"] = "CLIPImageProcessor",
        ["do_resize"] = true,
        ["size"] = new JsonObject { ["shortest_edge"] = size },
        ["resample"] = 3,
        ["do_center_crop"] = true,
        ["crop_size"] = new JsonObject { ["height"] = size, ["width"] = size },
        ["do_rescale"] = true,
        ["rescale_factor"] = 1 / 255.0,
        ["do_normalize"] = true,
        ["image_mean"] = new JsonArray(ClipImageProcessor.ClipMean.Select(v => (JsonNode)v).ToArray()),
        ["image_std"] = new JsonArray(ClipImageProcessor.ClipStd.Select(v => (JsonNode)v).ToArray()),
        ["do_convert_rgb"] = true,
    }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
}
