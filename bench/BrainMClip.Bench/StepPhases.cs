using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace BrainMClip.Bench;

/// <summary>
/// Splits a timed step into named phases (forward, loss, backward, ...): per phase the wall and process CPU time and
/// the peak RSS reached inside it. The peak is per phase because <see cref="Start"/> and every <see cref="Mark"/>
/// reset the kernel's high-water mark (write "5" to /proc/self/clear_refs, Linux ≥ 4.0); the process peak that the
/// harness reports is read before the first reset. Off unless the harness runs with --phases.
/// </summary>
sealed class StepPhases
{
    readonly Dictionary<string, List<double>> _wall = new(StringComparer.Ordinal), _cpu = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _peak = new(StringComparer.Ordinal), _rssAfter = new(StringComparer.Ordinal);
    readonly List<string> _order = [];
    readonly Process _self = Process.GetCurrentProcess();
    readonly Stopwatch _clock = new();
    TimeSpan _cpu0;

    public bool Enabled { get; init; }

    /// <summary>The process's peak RSS (MB) before the first reset: the workload's set-up and warm-up.</summary>
    public long PeakBeforeFirstResetMB { get; private set; } = -1;

    public void Start()
    {
        if (!Enabled) return;
        if (PeakBeforeFirstResetMB < 0) PeakBeforeFirstResetMB = Status("VmHWM:");
        ResetPeak();
        _self.Refresh();
        _cpu0 = _self.TotalProcessorTime;
        _clock.Restart();
    }

    public void Mark(string phase)
    {
        if (!Enabled) return;
        double wall = _clock.Elapsed.TotalMilliseconds;
        _self.Refresh();
        double cpu = (_self.TotalProcessorTime - _cpu0).TotalMilliseconds;
        if (!_wall.ContainsKey(phase)) { _order.Add(phase); _wall[phase] = []; _cpu[phase] = []; }
        _wall[phase].Add(wall); _cpu[phase].Add(cpu);
        _peak[phase] = Math.Max(_peak.GetValueOrDefault(phase), Status("VmHWM:"));
        _rssAfter[phase] = Status("VmRSS:");
        ResetPeak();
        _cpu0 = _self.TotalProcessorTime;
        _clock.Restart();
    }

    /// <summary>Per phase: median wall and CPU ms (warm-up included), max peak RSS, RSS after the phase.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject();
        foreach (var p in _order)
            o[p] = new JsonObject
            {
                ["wall_ms"] = Median(_wall[p]),
                ["cpu_ms"] = Median(_cpu[p]),
                ["peak_rss_mb"] = _peak[p],
                ["rss_after_mb"] = _rssAfter[p],
            };
        return o;
    }

    static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
                    CultureInfo.InvariantCulture) / 1024;
        return -1;
    }
}
