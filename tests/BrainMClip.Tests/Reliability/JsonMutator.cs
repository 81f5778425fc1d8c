using System.Text;
using System.Text.Json.Nodes;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Seeded mutations of JSON config files. Half are structural (a field deleted, renamed to an unknown name, or given
/// an absurd value or the wrong type, at any depth), half are text-level (truncation, flipped characters, stray
/// punctuation) so the JSON parser's own error path is exercised too.
/// </summary>
public static class JsonMutator
{
    static readonly string[] Absurd =
    [
        "-1", "0", "-2147483649", "2147483648", "9223372036854775808", "1e308", "-1e308", "1e-320", "0.5", "-0.0",
        "\"\"", "\"abc\"", "\"NaN\"", "\"-1\"", "true", "false", "null", "[]", "{}", "[1,2,3]", "[-1]", "{\"x\":1}",
        "1000000000", "65536", "[1e308,1e308,1e308]", "[0,0,0]", "\"\\u0000\"",
    ];

    public static byte[] Mutate(byte[] seed, int i)
    {
        var rng = new Random(unchecked(i * 104729 + 3));
        string text = Encoding.UTF8.GetString(seed);
        if (i % 2 == 1) return Encoding.UTF8.GetBytes(TextMutation(text, rng));
        var root = JsonNode.Parse(text)!;
        int edits = 1 + (rng.Next(4) == 0 ? rng.Next(3) : 0);
        for (int k = 0; k < edits; k++) root = StructuralMutation(root, rng);
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    static string TextMutation(string text, Random rng)
    {
        switch (rng.Next(4))
        {
            case 0: return text[..rng.Next(text.Length)];
            case 1:
            {
                var c = text.ToCharArray();
                for (int k = 0, n = 1
                    + rng.Next(3); k < n; k++) c[rng.Next(c.Length)] = "{}[]:,\"0-9.eE \\x"[rng.Next(16)];
                return new string(c);
            }
            case 2:
            {
                // A number made absurd in place: digits repeated, or a sign flipped.
                int pos = rng.Next(text.Length);
                int d = text.IndexOfAny("0123456789".ToCharArray(), pos);
                if (d < 0) return text + "}";
                return rng.Next(2) == 0 ? text[..d] + new string(text[d], 25) + text[d..] : text[..d] + "-"
                    + text[d..];
            }
            default:
            {
                int pos = rng.Next(text.Length + 1);
                return text[..pos] + Absurd[rng.Next(Absurd.Length)] + text[pos..];
            }
        }
    }

    static JsonNode StructuralMutation(JsonNode root, Random rng)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index)>();
        Collect(root, slots);
        if (slots.Count == 0) return JsonNode.Parse(Absurd[rng.Next(Absurd.Length)]) ?? new JsonObject();
        var (parent, key, index) = slots[rng.Next(slots.Count)];
        JsonNode? value = rng.Next(8) == 0 ? null : JsonNode.Parse(Absurd[rng.Next(Absurd.Length)]);
        switch (parent)
        {
            case JsonObject o when key != null:
                switch (rng.Next(6))
                {
                    case 0: o.Remove(key); break; // missing field
                    case 1: // unknown field (a typo of a real one)
                        var old = o[key];
                        o.Remove(key);
                        o[key + "_typo"] = old?.DeepClone();
                        break;
                    default: o[key] = value; break;
                }
                break;
            case JsonArray a:
                if (rng.Next(4) == 0) a.RemoveAt(index);
                else a[index] = value;
                break;
        }
        return root;
    }

    static void Collect(JsonNode node, List<(JsonNode, string?, int)> slots)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var kv in o.ToList())
                {
                    slots.Add((o, kv.Key, 0));
                    if (kv.Value != null) Collect(kv.Value, slots);
                }
                break;
            case JsonArray a:
                for (int k = 0; k < a.Count; k++)
                {
                    slots.Add((a, null, k));
                    if (a[k] != null) Collect(a[k]!, slots);
                }
                break;
        }
    }
}
