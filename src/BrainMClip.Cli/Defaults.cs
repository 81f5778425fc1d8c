namespace BrainMClip.Cli;

/// <summary>
/// The defaults an options record declares (its property initialisers). A command's option defaults read them
/// (<c>DefaultValueFactory = _ => D.Steps</c>), so every default is written once, in the record that owns it
/// (tests/BrainMClip.Tests/Architecture/SingleSourceDefaultsTests.cs fails on a literal written in both).
/// </summary>
public static class Defaults
{
    /// <summary>An instance with every property at its declared default. Records with <c>required</c> members
    /// cannot be made with <c>new()</c> in C#, so the instance is made by reflection; those members stay null and
    /// are not meant to be read.</summary>
    public static T Of<T>() where T : class => Cache<T>.Value;

    static class Cache<T> where T : class
    {
        public static readonly T Value = (T)Activator.CreateInstance(typeof(T))!;
    }
}
