using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>
/// Runs the CLI in-process through <c>Program.Main</c> and captures stdout/stderr. Console redirection is
/// process-wide, so every test class that uses it must be in the "Console" collection (serialised by xunit).
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

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
