using System.Text.Json;
using System.Text.Json.Nodes;

namespace BrainMClip.IO;

/// <summary>
/// Typed access to a Hugging Face (diffusers, transformers) <c>config.json</c>: absent keys fall back to the diffusers
/// default, present keys must have the right JSON type, and every problem is a <see cref="UserInputException"/> naming
/// the file and the field.
/// </summary>
public sealed class ConfigReader
{
    readonly JsonObject _root;
    public string Path { get; }

    ConfigReader(string path, JsonObject root) { Path = path; _root = root; }

    public static ConfigReader Load(string path, string what = "model config")
    {
        UserInputException.RequireFile(path, what);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
        return new ConfigReader(path, node as JsonObject
            ?? throw new UserInputException($"{path}: expected a JSON object"));
    }

    public static ConfigReader Parse(string json, string path = "config.json")
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})"); }
        return new ConfigReader(path, node as JsonObject
            ?? throw new UserInputException($"{path}: expected a JSON object"));
    }

    /// <summary>A reader over an object already parsed (e.g. a nested section); <paramref name="path"/> names
    /// it.</summary>
    public static ConfigReader FromObject(JsonObject root, string path) => new(path, root);

    /// <summary>The nested object <paramref name="key"/> (an empty one when absent), named "path (key)".</summary>
    public ConfigReader Section(string key)
    {
        if (!Has(key)) return new ConfigReader($"{Path} ({key})", new JsonObject());
        return _root[key] is JsonObject o ? new ConfigReader($"{Path} ({key})", o) : throw Error(key,
            "must be an object");
    }

    public bool IsExplicitNull(string key) => _root.TryGetPropertyValue(key, out var v) && v == null;

    public bool Has(string key) => _root.TryGetPropertyValue(key, out var v) && v != null;

    public UserInputException Error(string key, string what) => new($"{Path}: config field '{key}' {what}");

    public int Int(string key, int fallback)
    {
        if (!Has(key)) return fallback;
        try { return _root[key]!.GetValue<int>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            // Whole-valued doubles (e.g. 1.0) are fine; out-of-range ones (1e25) must not wrap around in the cast.
            if (_root[key] is JsonValue jv && jv.TryGetValue(out double d) && d == Math.Floor(d)
                && Math.Abs(d) <= int.MaxValue) return (int)d;
            throw Error(key, $"must be an integer (got {_root[key]!.ToJsonString()})");
        }
    }

    public int? IntOrNull(string key) => Has(key) ? Int(key, 0) : null;

    public double Double(string key, double fallback)
    {
        if (!Has(key)) return fallback;
        if (_root[key] is JsonValue jv && jv.TryGetValue(out double d)) return d;
        throw Error(key, $"must be a number (got {_root[key]!.ToJsonString()})");
    }

    public bool Bool(string key, bool fallback)
    {
        if (!Has(key)) return fallback;
        if (_root[key] is JsonValue jv && jv.TryGetValue(out bool b)) return b;
        throw Error(key, $"must be true or false (got {_root[key]!.ToJsonString()})");
    }

    public string? String(string key, string? fallback)
    {
        if (!Has(key)) return fallback;
        if (_root[key] is JsonValue jv && jv.TryGetValue(out string? s)) return s;
        throw Error(key, $"must be a string (got {_root[key]!.ToJsonString()})");
    }

    public string[] Strings(string key, string[] fallback)
    {
        if (!Has(key)) return fallback;
        if (_root[key] is not JsonArray a) throw Error(key, "must be a list of strings");
        try { return a.Select(x => x!.GetValue<string>()).ToArray(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        { throw Error(key, "must be a list of strings"); }
    }

    public int[] Ints(string key, int[] fallback)
    {
        if (!Has(key)) return fallback;
        if (_root[key] is not JsonArray a) throw Error(key, "must be a list of integers");
        try { return a.Select(x => x!.GetValue<int>()).ToArray(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        { throw Error(key, "must be a list of integers"); }
    }

    public double[] Doubles(string key)
    {
        if (_root[key] is not JsonArray a) throw Error(key, "must be a list of numbers");
        try { return a.Select(x => x!.GetValue<double>()).ToArray(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        { throw Error(key, "must be a list of numbers"); }
    }

    /// <summary>
    /// Refuses a config that describes at least <paramref name="minParameters"/> parameters when the weight file holds
    /// fewer than 2 bytes (F16/BF16) per parameter: checked before the model is allocated, so a corrupt channel count
    /// cannot make the process try to allocate terabytes.
    /// </summary>
    public void RequireWeightsCanHold(long minParameters, string weightsPath, string fields)
    {
        long bytes = File.Exists(weightsPath) ? new FileInfo(weightsPath).Length : 0;
        if (minParameters > bytes / 2)
            throw new UserInputException(
                $"{Path}: the config describes a model of at least " +
                $"{(minParameters == long.MaxValue ? "2^63" : minParameters.ToString())} parameters, " +
                $"but {weightsPath} holds only {bytes} bytes (check {fields})");
    }

    /// <summary>a·b saturating at long.MaxValue (inputs are non-negative).</summary>
    public static long Mul(params long[] xs)
    {
        long r = 1;
        foreach (var x in xs)
        {
            if (x <= 0) return 0;
            r = r > long.MaxValue / x ? long.MaxValue : r * x;
        }
        return r;
    }

    /// <summary>Saturating sum.</summary>
    public static long Add(params long[] xs)
    {
        long r = 0;
        foreach (var x in xs) r = x > long.MaxValue - r ? long.MaxValue : r + Math.Max(0, x);
        return r;
    }

    /// <summary>An int or a per-level list (diffusers accepts both for several UNet fields).</summary>
    public int[] IntOrList(string key, int fallback, int levels)
    {
        if (!Has(key)) return Enumerable.Repeat(fallback, levels).ToArray();
        if (_root[key] is JsonArray)
        {
            var v = Ints(key, []);
            if (v.Length != levels) throw Error(key, $"has {v.Length} entries but the model has {levels} levels");
            return v;
        }
        return Enumerable.Repeat(Int(key, fallback), levels).ToArray();
    }

    /// <summary>The JSON text of each element of a list field.</summary>
    public string[] RawList(string key) =>
        _root[key] is JsonArray a ? a.Select(x => x?.ToJsonString() ?? "null").ToArray() : [];

    public bool IsList(string key) => Has(key) && _root[key] is JsonArray;

    public bool IsObject(string key) => Has(key) && _root[key] is JsonObject;

    /// <summary>A finite number (JSON cannot hold NaN, but a literal like 1e999 reads as infinity).</summary>
    public double FiniteDouble(string key, double fallback)
    {
        double d = Double(key, fallback);
        return double.IsFinite(d) ? d : throw Error(key, $"must be a finite number (got {_root[key]!.ToJsonString()})");
    }

    /// <summary>An RGB triple: one number for all channels, or a list of 3 numbers.</summary>
    public double[] Triple(string key, double[] fallback)
    {
        if (!Has(key)) return fallback;
        if (!IsList(key)) return [.. Enumerable.Repeat(FiniteDouble(key, 0), 3)];
        var v = Doubles(key);
        if (v.Length != 3 || !v.All(double.IsFinite)) throw Error(key, "must be 3 finite numbers (R, G, B)");
        return v;
    }

    /// <summary>Rejects a field whose value is set to anything other than the listed supported values.</summary>
    public void RequireNullOr(string key, params string[] allowed)
    {
        if (!Has(key)) return;
        var node = _root[key]!;
        string text = node is JsonValue jv && jv.TryGetValue(out string? s) ? s : node.ToJsonString();
        if (!allowed.Contains(text))
            throw Error(key, allowed.Length == 0
                ? $"= {node.ToJsonString()} is not supported (only null)"
                : $"= {node.ToJsonString()} is not supported (supported: null, {string.Join(", ", allowed)})");
    }
}
