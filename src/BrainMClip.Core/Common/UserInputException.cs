namespace BrainMClip;

/// <summary>
/// Bad input from the user: a missing or malformed file, an inconsistent data set, an invalid option value.
/// The CLI reports the message (which names the file and the problem) and exits with code 2, never a stack trace.
/// Messages speak in domain words, never in command-line flags: Core is a library too. A bad setting names the
/// property of the options record it came from (<see cref="Field"/>), and the CLI adds the flag that fills it.
/// </summary>
public sealed class UserInputException : Exception
{
    public UserInputException(string message) : base(message) { }
    public UserInputException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The options-record property (or method parameter) whose value is bad, e.g. "Steps"; null when the
    /// problem is a file or a combination the message describes.</summary>
    public string? Field { get; private init; }

    /// <summary>A bad value of setting <paramref name="field"/> (pass <c>nameof(o.Steps)</c>).</summary>
    public static UserInputException Invalid(string field, string message) => new(message) { Field = field };

    /// <summary>Throws <see cref="Invalid"/> unless <paramref name="ok"/>.</summary>
    public static void Require(bool ok, string field, string message)
    {
        if (!ok) throw Invalid(field, message);
    }

    /// <summary>Throws when <paramref name="path"/> does not exist, naming what the file was for.</summary>
    public static void RequireFile(string path, string what)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: {what} not found");
    }

    public static void RequireDirectory(string path, string what)
    {
        if (!Directory.Exists(path)) throw new UserInputException($"{path}: {what} (a folder) not found");
    }
}
