using System.CommandLine;
using System.Text;

namespace BrainMClip.Cli;

/// <summary>
/// The System.CommandLine command of one <see cref="ICliCommand"/>. It keeps the command so that an error Core
/// raises about a setting (<see cref="UserInputException.Field"/>, a property name such as "Steps") is reported
/// with the flag that fills it: Core's messages speak in domain words, the CLI adds its own words.
/// </summary>
public sealed class CliCommand(ICliCommand source) : Command(source.Path[^1], source.Description)
{
    public static readonly IReadOnlyDictionary<string, string> NoFieldFlags = new Dictionary<string, string>();

    public ICliCommand Source { get; } = source;

    /// <summary>
    /// The flag that fills <paramref name="field"/>: the command's explicit <see cref="ICliCommand.FieldFlags"/>,
    /// else the option named like the property in kebab case (AttentionSlice → --attention-slice); null when the
    /// command has no such option.
    /// </summary>
    public string? FlagOf(string field)
    {
        if (Source.FieldFlags.TryGetValue(field, out var flag)) return flag;
        string kebab = "--" + Kebab(field);
        return Options.Any(o => o.Name == kebab) ? kebab : null;
    }

    /// <summary>The message of <paramref name="e"/>, prefixed with the flag of its field when known.</summary>
    public static string Describe(UserInputException e, Command? command) =>
        e.Field is { } field && (command as CliCommand)?.FlagOf(field) is { } flag ? $"{flag}: {e.Message}" : e.Message;

    /// <summary>PascalCase → kebab-case; a run of capitals stays one word (ImageSize → image-size, FmriDType →
    /// fmri-dtype).</summary>
    public static string Kebab(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0 && !char.IsUpper(name[i - 1])) sb.Append('-');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
