using System.Diagnostics;
using Xunit.Abstractions;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Runs the real CLI (<c>dotnet brainmclip.dll</c> from the test output folder) as a child process, so it can be
/// killed with SIGKILL like a crashed or pre-empted cluster job.
/// </summary>
public static class ChildCli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "brainmclip.dll");

    public sealed class Child : IDisposable
    {
        readonly Process _p;
        readonly System.Text.StringBuilder _out = new(), _err = new();
        internal Child(Process p)
        {
            _p = p;
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_out) _out.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_err) _err.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
        }

        public bool HasExited => _p.HasExited;
        public string Out { get { lock (_out) return _out.ToString(); } }
        public string Err { get { lock (_err) return _err.ToString(); } }

        /// <summary>SIGKILL (Process.Kill sends SIGKILL on Unix): no finally blocks, no flushes, no cleanup.</summary>
        public void Kill()
        {
            try { _p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already exited */ }
            _p.WaitForExit();
        }

        public int Wait(TimeSpan timeout)
        {
            if (!_p.WaitForExit(timeout))
            {
                Kill();
                throw new Xunit.Sdk.XunitException(
                    $"brainmclip did not finish within {timeout.TotalSeconds}s\nstderr:\n{Err}");
            }
            _p.WaitForExit(); // drains the async output readers
            return _p.ExitCode;
        }

        public void Dispose()
        {
            if (!_p.HasExited) Kill();
            _p.Dispose();
        }
    }

    public static Child Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>Starts the CLI with extra environment variables (read by LibTorch/MKL when the child loads them).</summary>
    public static Child Start(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1"; // 2-core CI shared with other tests
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return new Child(Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet"));
    }

    public static (int Code, string Out, string Err) Run(TimeSpan timeout, params string[] args) =>
        Run(timeout, new Dictionary<string, string>(), args);

    public static (int Code, string Out, string Err) Run(TimeSpan timeout, IReadOnlyDictionary<string, string> env,
        params string[] args)
    {
        using var c = Start(env, args);
        int code = c.Wait(timeout);
        return (code, c.Out, c.Err);
    }
}

/// <summary>
/// Seeded kill-and-resume: starts a command, SIGKILLs it at a random moment of its work (after a random number of
/// observable progress units plus a random delay), checks the on-disk invariants, and repeats with --resume; the last
/// attempt runs to completion.
/// </summary>
public static class KillResume
{
    /// <param name="args">The command without --resume (the first attempt); later attempts append --resume.</param>
    /// <param name="progress">Observable progress so far (e.g. finished batch files), polled while the child
    /// runs.</param>
    /// <param name="total">Progress units of a full run; a kill target of <paramref name="total"/> lands in the final
    /// step.</param>
    /// <param name="afterKill">Invariants that must hold after any kill (no partial file under a final name,
    /// ...).</param>
    /// <returns>How many attempts were actually killed before finishing.</returns>
    public static int Run(string[] args, int kills, int seed, Func<int> progress, int total, Action afterKill,
        ITestOutputHelper log)
    {
        var rng = new Random(seed);
        int killed = 0;
        for (int attempt = 0; ; attempt++)
        {
            var a = attempt == 0 ? args : [.. args, "--resume"];
            using var child = ChildCli.Start(a);
            if (attempt < kills)
            {
                // Target counted from what earlier attempts left, so every kill lands in new work (or the final step).
                int done = progress(), target = done + rng.Next(0, total - done + 1), delayMs = rng.Next(0, 60);
                var clock = Stopwatch.StartNew();
                while (!child.HasExited && progress() < target
                    && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(2);
                if (delayMs > 0) Thread.Sleep(delayMs);
                bool wasRunning = !child.HasExited;
                child.Kill();
                if (wasRunning)
                {
                    killed++;
                    log.WriteLine(
                        $"attempt {attempt}: SIGKILL after progress {progress()}/{total} (target {target}, " +
                        $"+{delayMs} ms)");
                    afterKill();
                    continue;
                }
                log.WriteLine($"attempt {attempt}: finished before the kill (target {target}, +{delayMs} ms)");
            }
            int code = child.Wait(TimeSpan.FromMinutes(3));
            if (code != 0) throw new Xunit.Sdk.XunitException(
                $"attempt {attempt} ({string.Join(' ', a)}) exited {code}\nstderr:\n{child.Err}");
            log.WriteLine($"attempt {attempt}: completed");
            return killed;
        }
    }
}
