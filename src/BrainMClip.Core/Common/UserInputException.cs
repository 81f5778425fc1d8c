namespace BrainMClip;

/// <summary>
/// Bad input from the user: a missing or malformed file, an inconsistent data set, an invalid option value.
/// The CLI reports the message (which names the file and the problem) and exits with code 2, never a stack trace.
/// </summary>
public sealed class UserInputException : Exception
{
    public UserInputException(string message) : base(message) { }
    public UserInputException(string message, Exception inner) : base(message, inner) { }

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
