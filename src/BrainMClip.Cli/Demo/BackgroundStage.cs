using System.Diagnostics;
using System.Reflection;

namespace BrainMClip.Cli.Demo;

/// <summary>
/// A demo stage run as a child <c>brainmclip</c> process beside the stages the demo runs in-process. Why a process and
/// not a thread: each job then owns libtorch's global state (thread count, default RNG used by module
/// initialisation), so both compute exactly what the echoed command lines compute on their own. The child's stderr
/// (its progress) goes to a log file, its stdout (the command's JSON) is returned by <see cref="Wait"/>.
/// </summary>
public sealed class BackgroundStage : IDisposable
{
    readonly Process _process;
    readonly StreamWriter _log;
    readonly Task<string> _stdout;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    volatile string? _lastLine;

    public string Title { get; }

    /// <summary>True once the child has exited (successfully or not; <see cref="Wait"/> tells which).</summary>
    public bool HasExited => _process.HasExited;

    BackgroundStage(string title, Process process, StreamWriter log)
    {
        Title = title;
        _process = process;
        _log = log;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _lastLine = e.Data;
            lock (_log) _log.WriteLine(e.Data);
        };
        _process.BeginErrorReadLine();
        _stdout = _process.StandardOutput.ReadToEndAsync();
    }

    /// <summary>Starts <c>brainmclip ARGS</c> (this very executable) with its stderr written to
    /// <paramref name="logPath"/>.</summary>
    /// <param name="unsetEnvironment">Variables the child must not inherit (e.g. OMP_WAIT_POLICY).</param>
    public static BackgroundStage Start(string title, string logPath, IEnumerable<string> args,
        IEnumerable<string>? unsetEnvironment = null)
    {
        var psi = StartInfo(args);
        foreach (var name in unsetEnvironment ?? []) psi.Environment.Remove(name);
        return Start(title, logPath, psi);
    }

    /// <summary>Starts any process as a background stage (tests use a shell).</summary>
    public static BackgroundStage Start(string title, string logPath, ProcessStartInfo psi)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        try
        {
            var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
            return new BackgroundStage(title, process, log);
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    /// <summary>How to run this program again: the apphost itself, or <c>dotnet brainmclip.dll</c> when the demo
    /// was started through the <c>dotnet</c> host.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("unknown executable path");
        var psi = new ProcessStartInfo(host) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            psi.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location
                ?? throw new InvalidOperationException("unknown entry assembly"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Waits for the child; its stdout and wall time, or a <see cref="DemoStageException"/> with its exit
    /// code when it failed.</summary>
    /// <param name="progress">Called with the child's latest stderr line every <paramref name="interval"/> while
    /// it runs (the demo echoes its progress bar), when given.</param>
    public (string Stdout, double Seconds) Wait(Action<string>? progress = null, TimeSpan? interval = null)
    {
        var every = interval ?? TimeSpan.FromSeconds(15);
        while (!_process.WaitForExit(every))
            if (progress is not null && _lastLine is { } line) progress(line);
        _process.WaitForExit(); // drains the redirected streams
        string stdout = _stdout.GetAwaiter().GetResult();
        if (_process.ExitCode != 0) throw new DemoStageException(Title, _process.ExitCode);
        return (stdout, _clock.Elapsed.TotalSeconds);
    }

    /// <summary>Stops the child if the demo ends before it does (a failing foreground stage must not leave it
    /// running).</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}
