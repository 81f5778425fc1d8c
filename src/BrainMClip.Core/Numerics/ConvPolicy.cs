using System.Globalization;

namespace BrainMClip.Numerics;

/// <summary>The route this process uses, why, and the probe figures behind it.</summary>
public sealed record ConvDecision(ConvRoute Route, string Reason, IReadOnlyList<ConvProbeReport> Probes)
{
    /// <summary>The one stderr line: what was decided and the deciding figures.</summary>
    public string Summary
    {
        get
        {
            double ms = Probes.Sum(p => p.Milliseconds);
            return Probes.Count == 0
                ? $"convolutions: route {Route} ({Reason}; not probed)"
                : $"convolutions: route {Route} ({Reason}; {Probes.Count} probe run(s), {ms:F0} ms)";
        }
    }
}

/// <summary>
/// Decides once per process, from measurement, how convolutions are computed (issue 12). BRAINMCLIP_ONEDNN=on|off|auto
/// (default auto) overrides; BRAINMCLIP_CONV_ROUTE=onednn|pad|unfold|off forces one route (tests, bench).
/// auto: probe oneDNN against float64; if wrong, take the cheapest route whose probe passes (zero-padding, then
/// unfold), else switch oneDNN off for the process.
/// </summary>
public static class ConvPolicy
{
    public const string OneDnnVariable = "BRAINMCLIP_ONEDNN", RouteVariable = "BRAINMCLIP_CONV_ROUTE";

    // The once-computed process decision; made lazily at the first convolution, so commands without one never probe.
    static readonly Lazy<ConvDecision> Process = new(() => Apply(Decide(
        Environment.GetEnvironmentVariable(OneDnnVariable), Environment.GetEnvironmentVariable(RouteVariable)),
        Console.Error, Environment.GetEnvironmentVariable("BRAINMCLIP_VERBOSE") == "1"));

    /// <summary>The process's route (probing on first use).</summary>
    public static ConvRoute Route => Process.Value.Route;

    /// <summary>The process's decision with its figures (probing on first use).</summary>
    public static ConvDecision Current => Process.Value;

    /// <summary>
    /// Parses the two variables and probes as needed (the probe of the off route switches oneDNN off to measure it).
    /// <see cref="Enter"/> then sets libtorch's flags for the decision.
    /// </summary>
    public static ConvDecision Decide(string? oneDnn, string? forcedRoute)
    {
        if (!string.IsNullOrWhiteSpace(forcedRoute))
            return new ConvDecision(ParseRoute(forcedRoute), $"forced by {RouteVariable}={forcedRoute}", []);
        string mode = string.IsNullOrWhiteSpace(oneDnn) ? "auto" : oneDnn.Trim().ToLowerInvariant();
        return mode switch
        {
            "on" => new ConvDecision(ConvRoute.OneDnn, $"forced by {OneDnnVariable}=on", []),
            "off" => new ConvDecision(ConvRoute.OneDnnOff, $"forced by {OneDnnVariable}=off", []),
            "auto" => Probe(),
            _ => throw new UserInputException($"{OneDnnVariable}={oneDnn}: expected on, off or auto"),
        };
    }

    static ConvRoute ParseRoute(string s) => s.Trim().ToLowerInvariant() switch
    {
        "onednn" or "on" => ConvRoute.OneDnn,
        "pad" or "zeropad" => ConvRoute.ZeroPad,
        "unfold" => ConvRoute.Unfold,
        "off" or "onednnoff" => ConvRoute.OneDnnOff,
        _ => throw new UserInputException($"{RouteVariable}={s}: expected onednn, pad, unfold or off"),
    };

    static ConvDecision Probe()
    {
        var probes = new List<ConvProbeReport> { ConvProbe.Run(ConvRoute.OneDnn) };
        if (probes[0].Pass)
            return new ConvDecision(ConvRoute.OneDnn, $"oneDNN correct here, worst error {probes[0].WorstByDtype}",
                probes);
        string wrong = "oneDNN WRONG: " + string.Join(", ",
            probes[0].Results.Where(r => !r.Pass).Select(r => $"{r.Name} {Fmt(r.Error)}"));
        foreach (var route in new[] { ConvRoute.ZeroPad, ConvRoute.Unfold })
        {
            probes.Add(ConvProbe.Run(route));
            if (probes[^1].Pass)
                return new ConvDecision(route, $"{wrong}; {route} checked, worst {probes[^1].WorstByDtype}", probes);
        }
        LibTorchContext.OneDnnEnabled = false;
        probes.Add(ConvProbe.Run(ConvRoute.OneDnnOff));
        string verdict = probes[^1].Pass ? "checked" : "STILL WRONG";
        return new ConvDecision(ConvRoute.OneDnnOff,
            $"{wrong}; padding and unfold wrong too; oneDNN off {verdict}, worst {probes[^1].WorstByDtype}", probes);
    }

    /// <summary>Sets libtorch's flags for <paramref name="d"/>: oneDNN off for the off route; NNPACK off.</summary>
    public static ConvDecision Enter(ConvDecision d)
    {
        // NNPACK only serves convolutions oneDNN does not take; where it is unsupported it prints a warning per call.
        LibTorchContext.NnpackEnabled = false;
        if (d.Route == ConvRoute.OneDnnOff) LibTorchContext.OneDnnEnabled = false;
        return d;
    }

    static ConvDecision Apply(ConvDecision d, TextWriter log, bool verbose)
    {
        Enter(d);
        log.WriteLine(d.Summary);
        if (verbose)
            foreach (var p in d.Probes)
                foreach (var r in p.Results)
                    log.WriteLine($"  {p.Route,-9} {r.Name,-20} error {Fmt(r.Error)} (tol {Fmt(r.Tolerance)}) " +
                        (r.Pass ? "ok" : "FAIL"));
        return d;
    }

    public static string Fmt(double v) => v.ToString("0.0e+0", CultureInfo.InvariantCulture);
}
