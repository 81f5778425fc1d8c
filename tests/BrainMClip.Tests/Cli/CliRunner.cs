using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>
/// Runs the CLI in-process through <c>Program.Main</c> and captures stdout/stderr. Console redirection is
/// process-wide, so every test class that uses it must be in the "Console" collection (see
/// <see cref="ConsoleCollection"/>).
/// </summary>
public static class CliRunner
{
    static readonly object Gate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (Gate)
        {
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            var o = new StringWriter();
            var e = new StringWriter();
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                int code = BrainMClip.Cli.Program.Main(args);
                return (code, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }
}

/// <summary>
/// The one sequential collection. Test classes run in parallel (xunit.runner.json), except those that touch
/// process-global state, which belong here and run alone after the parallel ones: Console redirection
/// (<see cref="CliRunner"/>, which also runs commands that seed torch's global generator) and tests whose asserted
/// numbers depend on torch's global random generator (<c>manual_seed</c> followed by default module
/// initialisation, as in clip-train), which any test running beside them would draw from; and the fuzz tests,
/// whose per-case hang budget is wall-clock time (Reliability/Fuzzer.cs).
/// </summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
