using System.Text.Json.Nodes;
using BrainMClip.IO;

namespace BrainMClip.Optimization;

/// <summary>A loss term or gradient became NaN/Inf; training stopped and the last good checkpoint was kept.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>metrics.jsonl: one JSON object per epoch, rewritten atomically after every epoch.</summary>
public static class MetricsLog
{
    public static void Write(string path, IEnumerable<JsonObject> lines) =>
        AtomicFile.WriteAllText(path, string.Concat(lines.Select(l => l.ToJsonString() + "\n")));

    public static List<JsonObject> Read(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
}
