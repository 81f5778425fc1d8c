namespace BrainMClip.IO;

/// <summary>Opening files whose payload is read in a few large calls (.npy, safetensors).</summary>
public static class BulkFile
{
    /// <summary>
    /// Opens <paramref name="path"/> for reading without FileStream's own buffer, so a large read goes straight from
    /// read(2) into the destination. With the default 4 KiB buffer reading a 126 MB .npy into a fresh array took
    /// 90–175 ms instead of 22–25 ms (bench/RESULTS.md, npy_read).
    /// </summary>
    public static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
}
