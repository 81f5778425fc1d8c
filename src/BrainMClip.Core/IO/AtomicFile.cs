namespace BrainMClip.IO;

/// <summary>
/// Writes files so that a final name never holds a partial file: data goes to a temp file in the same folder,
/// is flushed to disk, then renamed over the target (rename is atomic on POSIX file systems).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// Checks before long work starts that <paramref name="path"/> can be written: not a folder, and its folder can be
    /// created and holds a new file. Throws a <see cref="UserInputException"/> naming <paramref name="what"/>
    /// otherwise, with <paramref name="field"/> (the setting that holds the path) as its
    /// <see cref="UserInputException.Field"/>.
    /// </summary>
    public static void RequireWritable(string path, string what, string? field = null)
    {
        UserInputException Bad(string message) =>
            field is null ? new UserInputException(message) : UserInputException.Invalid(field, message);
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw Bad($"{what} {path}: not a valid path ({e.Message})");
        }
        if (Directory.Exists(full)) throw Bad($"{what} {path}: is a folder; expected a file name");
        string dir = Path.GetDirectoryName(full)!;
        string probe = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1,
                FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Bad($"{what} {path}: cannot write there ({e.Message})");
        }
    }

    /// <summary>
    /// Deletes the temp files that writes to <paramref name="path"/> left behind when their process was killed
    /// (SIGKILL skips the cleanup above). Temps of processes still running are kept. Returns how many were deleted.
    /// </summary>
    public static int DeleteStaleTemps(string path)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!, name = Path.GetFileName(full);
        if (!Directory.Exists(dir)) return 0;
        int deleted = 0;
        foreach (var tmp in Directory.EnumerateFiles(dir, $".{name}.*.tmp"))
        {
            var parts = Path.GetFileName(tmp)[(name.Length + 2)..].Split('.');
            if (parts.Length != 3 || !int.TryParse(parts[0], out int pid) || IsRunning(pid)) continue;
            try { File.Delete(tmp); deleted++; } catch (IOException) { }
        }
        return deleted;
    }

    static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
}
