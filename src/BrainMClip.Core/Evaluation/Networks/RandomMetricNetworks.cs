using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Evaluation.Networks;

/// <summary>
/// Seeded random-weight metric networks in the torchvision-named layout <c>evaluate --nets</c> reads, so every metric
/// can run without a download (demo, tests, timing). A <c>nets-init.json</c> manifest records which files it wrote with
/// their SHA-256: <see cref="Describe"/> labels a network "random" only while its file is still that very file, so
/// real weights copied over a random file are never mislabelled.
/// </summary>
public static class RandomMetricNetworks
{
    public const string ManifestName = "nets-init.json";
    public const string RandomLabel = "random weights";

    /// <summary>What <see cref="Write"/> produced: file name → SHA-256, and the CLIP folder's origin.</summary>
    public sealed record Result(IReadOnlyDictionary<string, string> Files, string ClipOrigin, string Manifest);

    /// <summary>
    /// Writes alexnet, inception_v3, efficientnet_b1 and swav_resnet50 safetensors with random weights (torchvision's
    /// init: convolutions N(0, 2/fan_out), linear layers N(0, 1/fan_in), norms weight 1 / bias 0, running mean 0 and
    /// variance 1, biases 0; classifier heads left out) and a CLIP folder: a copy of <paramref name="clipFrom"/> when
    /// given, else a random tiny CLIP. Same seed ⇒ byte-identical files. <paramref name="networks"/> limits the
    /// torchvision networks written (names of <see cref="MetricNetwork.Files"/>; null = all four).
    /// </summary>
    public static Result Write(string outDir, int seed, string? clipFrom, IReadOnlyCollection<string>? networks = null)
    {
        foreach (var n in networks ?? [])
            if (MetricNetwork.Files.All(x => x.net != n))
                throw UserInputException.Invalid("Networks", $"unknown metric network '{n}' (known: " +
                                             $"{string.Join(", ", MetricNetwork.Files.Select(x => x.net))})");
        Directory.CreateDirectory(outDir);
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        ulong k = 0;
        foreach (var (net, file, _) in MetricNetwork.Files)
        {
            ulong salt = k++;   // per network, independent of which others are written
            if (networks != null && !networks.Contains(net)) continue;
            string path = Path.Combine(outDir, file);
            using (var model = MetricNetwork.Create(net)) SaveRandom(model, path, seed, salt);
            hashes[file] = Sha256(path);
        }
        string clipDir = Path.Combine(outDir, "clip");
        string origin;
        if (clipFrom != null)
        {
            UserInputException.RequireDirectory(clipFrom, "CLIP to copy (a Hugging Face CLIP folder)");
            if (Path.GetFullPath(clipFrom).TrimEnd('/') != Path.GetFullPath(clipDir).TrimEnd('/'))
                CopyFiles(clipFrom, clipDir);
            origin = $"copied from {Path.GetFullPath(clipFrom)}";
        }
        else
        {
            Features.ClipCheckpointFactory.CreateRandom(clipDir, Features.ClipVisionConfig.Preset("tiny"), seed);
            origin = $"{RandomLabel} (clip-init preset tiny, seed {seed})";
        }
        string clipModel = Path.Combine(clipDir, "model.safetensors");
        if (File.Exists(clipModel)) hashes["clip/model.safetensors"] = Sha256(clipModel);
        var manifest = new JsonObject
        {
            ["written_by"] = "brainmclip nets-init",
            ["seed"] = seed,
            ["note"] = "Random-weight metric networks: scores computed with them test the evaluation pipeline, " +
                       "not perceptual similarity, and are not comparable to published figures.",
            ["random"] = new JsonArray(
                hashes.Keys.Where(f => f != "clip/model.safetensors").Select(f => (JsonNode)f).ToArray()),
            ["clip"] = origin,
            ["sha256"] = new JsonObject(hashes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        string manifestPath = Path.Combine(outDir, ManifestName);
        var indented = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteAllText(manifestPath, manifest.ToJsonString(indented));
        return new Result(hashes, origin, manifestPath);
    }

    /// <summary>The random weights <see cref="Write"/> stores for one network (classifier heads left out).</summary>
    public static Dictionary<string, Tensor> RandomWeights(MetricNetwork model, int seed, ulong salt)
    {
        var gen = new Generator(unchecked((ulong)seed * 1_000_003UL + salt));
        var dict = new Dictionary<string, Tensor>();
        foreach (var (key, t) in model.WeightsStateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (model.IsOptionalKey(key) || key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
            dict[key] = InitValue(key, t.shape, gen);
        }
        return dict;
    }

    static void SaveRandom(MetricNetwork model, string path, int seed, ulong salt)
    {
        using var scope = NewDisposeScope();
        var dict = RandomWeights(model, seed, salt);
        SafeTensors.Save(path, dict, new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["brainmclip"] = $"{RandomLabel}, nets-init seed {seed}",
        });
    }

    /// <summary>torchvision's initialisation for one state-dict entry (by name and shape).</summary>
    internal static Tensor InitValue(string key, long[] shape, Generator gen)
    {
        if (key.EndsWith("running_var", StringComparison.Ordinal)) return ones(shape);
        if (key.EndsWith("running_mean", StringComparison.Ordinal) || key.EndsWith(".bias", StringComparison.Ordinal))
            return zeros(shape);
        if (shape.Length == 1) return ones(shape);                      // norm weights
        long receptive = shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        double std = shape.Length == 4
            ? Math.Sqrt(2.0 / (shape[0] * receptive))                  // kaiming_normal_(mode="fan_out", relu)
            : Math.Sqrt(1.0 / (shape[1] * receptive));                 // linear: unit variance of the output
        return normal(0, std, shape, generator: gen);
    }

    /// <summary>
    /// Per network of <see cref="MetricNetwork.Files"/> (and "clip") found in <paramref name="netsDir"/>: where its
    /// weights come from, when nets-init wrote them and they are unchanged; otherwise no entry (weights as given).
    /// </summary>
    public static Dictionary<string, string> Describe(string netsDir)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string path = Path.Combine(netsDir, ManifestName);
        if (!File.Exists(path)) return result;
        JsonObject? m;
        try { m = JsonNode.Parse(File.ReadAllText(path)) as JsonObject; }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
        if (m?["sha256"] is not JsonObject hashes) return result;
        string seed = m["seed"]?.ToJsonString() ?? "?";
        bool Unchanged(string file) =>
            hashes[file]?.GetValue<string>() is { } h && File.Exists(Path.Combine(netsDir, file))
            && Sha256(Path.Combine(netsDir, file)) == h;
        foreach (var (net, file, _) in MetricNetwork.Files)
            if (hashes.ContainsKey(file) && Unchanged(file))
                result[net] = $"{RandomLabel} (brainmclip nets-init, seed {seed})";
        if (hashes.ContainsKey("clip/model.safetensors") && Unchanged("clip/model.safetensors"))
            result["clip"] = m["clip"]?.GetValue<string>() ?? "written by nets-init";
        return result;
    }

    static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    static void CopyFiles(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
            AtomicFile.WriteAllBytes(Path.Combine(to, Path.GetFileName(f)), File.ReadAllBytes(f));
    }
}
