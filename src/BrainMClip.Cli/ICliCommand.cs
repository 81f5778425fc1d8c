using System.CommandLine;

namespace BrainMClip.Cli;

/// <summary>
/// One CLI command. Implementations are discovered by reflection, so adding a command is adding one file.
/// <see cref="Path"/> is the command's words, e.g. ["data", "info"]; intermediate groups are created as needed.
/// </summary>
public interface ICliCommand
{
    string[] Path { get; }
    string Description { get; }
    /// <summary>Adds options/arguments to <paramref name="command"/> and sets its action.</summary>
    void Configure(Command command);

    /// <summary>
    /// Flags of the options-record properties whose flag is not the property's name in kebab case (e.g.
    /// MaxLr → --lr), so a Core error about that property names the flag (<see cref="CliCommand.FlagOf"/>).
    /// </summary>
    IReadOnlyDictionary<string, string> FieldFlags => CliCommand.NoFieldFlags;
}

/// <summary>Descriptions of command groups (words that only hold sub-commands).</summary>
public static class CommandGroups
{
    public static readonly IReadOnlyDictionary<string, string> Descriptions = new Dictionary<string, string>
    {
        ["data"] = "Inspect and export NSD-layout data (fMRI matrices, stimuli, ROI masks).",
        ["generator"] = "Train or inspect the image generator.",
    };
}
