using System.CommandLine;
using System.Reflection;

namespace BrainMClip.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = BuildRoot();
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine("Run with --help for usage.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            return ExitCodes.Report(ex, parse.CommandResult.Command);
        }
    }

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "brainmclip: decode seen images from fMRI with BrainMCLIP (fMRI -> CLIP hidden layers -> diffusion).");
        var commands = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (ICliCommand)Activator.CreateInstance(t)!)
            .OrderBy(c => string.Join(' ', c.Path), StringComparer.Ordinal);
        foreach (var c in commands) Attach(root, c);
        return root;
    }

    /// <summary>Parses <paramref name="args"/> (the command's words first) against <paramref name="command"/>
    /// alone, as <see cref="Main"/> would; the demo binds the command lines it echoes this way.</summary>
    public static ParseResult Parse(ICliCommand command, string[] args)
    {
        var root = new RootCommand();
        Attach(root, command);
        return root.Parse(args);
    }

    /// <summary>Adds <paramref name="c"/> under its words, creating the command groups on the way.</summary>
    static void Attach(Command root, ICliCommand c)
    {
        Command parent = root;
        for (int i = 0; i < c.Path.Length - 1; i++)
        {
            string word = c.Path[i];
            var group = parent.Subcommands.FirstOrDefault(s => s.Name == word);
            if (group == null)
            {
                group = new Command(word, CommandGroups.Descriptions.GetValueOrDefault(word, word));
                parent.Subcommands.Add(group);
            }
            parent = group;
        }
        var cmd = new CliCommand(c);
        c.Configure(cmd);
        parent.Subcommands.Add(cmd);
    }
}

public static class ExitCodes
{
    public const int Ok = 0, Internal = 1, Usage = 2;

    /// <summary>Maps an exception to the CLI contract: 2 for bad input (message only, prefixed with the flag of
    /// the setting it names when <paramref name="command"/> has one), 1 for internal errors.</summary>
    public static int Report(Exception ex, Command? command = null)
    {
        var e = ex is TargetInvocationException { InnerException: { } inner } ? inner : ex;
        if (e is AggregateException { InnerExceptions.Count: 1 } agg) e = agg.InnerExceptions[0];
        switch (e)
        {
            case UserInputException u:
                Console.Error.WriteLine($"error: {CliCommand.Describe(u, command)}");
                return Usage;
            case Optimization.TrainingDivergedException d:
                Console.Error.WriteLine($"error: {d.Message}");
                return Internal;
            case OperationCanceledException:
                Console.Error.WriteLine("cancelled");
                return Internal;
            default:
                Console.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
                if (Environment.GetEnvironmentVariable("BRAINMCLIP_DEBUG") == "1") Console.Error.WriteLine(e);
                else Console.Error.WriteLine("(set BRAINMCLIP_DEBUG=1 for the stack trace)");
                return Internal;
        }
    }
}
