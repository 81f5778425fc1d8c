using System.CommandLine;
using System.Text.Json;

namespace BrainMClip.Cli;

/// <summary>
/// A command whose work is one library call: its arguments bind to a typed request, the library turns the request
/// into a typed result, and the command prints a report of that result as JSON. The demo binds the very command line
/// it echoes and calls the same <see cref="Execute"/>, so a command and its demo stage share one code path.
/// </summary>
public abstract class StageCommand<TRequest, TResult> : ICliCommand
{
    protected static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public abstract string[] Path { get; }
    public abstract string Description { get; }

    /// <summary>The command's options, in help order.</summary>
    protected abstract Option[] Options { get; }

    /// <summary>Reads and checks the arguments (bad input: <see cref="UserInputException"/>). Ctrl+C reaches
    /// <paramref name="cancel"/> only when <see cref="Cancellable"/>.</summary>
    public abstract TRequest Bind(ParseResult parse, CancellationToken cancel);

    /// <summary>The work, through the library.</summary>
    public abstract TResult Execute(TRequest request);

    /// <summary>The object stdout shows as JSON (serialised with <see cref="JsonOptions"/>).</summary>
    public abstract object Report(TRequest request, TResult result);

    /// <inheritdoc cref="ICliCommand.FieldFlags"/>
    public virtual IReadOnlyDictionary<string, string> FieldFlags => CliCommand.NoFieldFlags;

    protected virtual JsonSerializerOptions JsonOptions => Indented;

    /// <summary>An async action whose token Ctrl+C cancels (the work stops between batches); otherwise Ctrl+C ends
    /// the process as usual.</summary>
    protected virtual bool Cancellable => false;

    /// <summary>Adds option validators (e.g. AcceptOnlyFromAmong) before the options are added.</summary>
    protected virtual void ConfigureOptions() { }

    /// <summary>What the command prints on stdout; JSON unless a command has another view.</summary>
    protected virtual void Print(TRequest request, TResult result) => Console.WriteLine(Json(request, result));

    /// <summary>The report as the command prints it, or on one line.</summary>
    public string Json(TRequest request, TResult result, bool indented = true) =>
        JsonSerializer.Serialize(Report(request, result),
            indented ? JsonOptions : new JsonSerializerOptions(JsonOptions) { WriteIndented = false });

    public void Configure(Command command)
    {
        ConfigureOptions();
        foreach (var o in Options) command.Options.Add(o);
        if (Cancellable) command.SetAction((p, cancel) => Task.FromResult(Run(p, cancel)));
        else command.SetAction(p => Run(p, CancellationToken.None));
    }

    int Run(ParseResult parse, CancellationToken cancel)
    {
        var request = Bind(parse, cancel);
        Print(request, Execute(request));
        return ExitCodes.Ok;
    }
}
