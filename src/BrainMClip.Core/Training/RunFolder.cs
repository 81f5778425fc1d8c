using BrainMClip.Optimization;

namespace BrainMClip.Training;

/// <summary>
/// Layout of a run folder: config.json (resolved), zscore.safetensors, checkpoints/{last,prev,best}.ckpt,
/// metrics.jsonl, training_curve.png, ridge.safetensors (ridge runs).
/// </summary>
public sealed class RunFolder
{
    public string Root { get; }
    public RunFolder(string root) => Root = Path.GetFullPath(root);

    public string ConfigPath => Path.Combine(Root, "config.json");
    public string ZScorePath => Path.Combine(Root, "zscore.safetensors");
    public string CheckpointDir => Path.Combine(Root, "checkpoints");
    public string LastCheckpoint => Path.Combine(CheckpointDir, "last.ckpt");
    /// <summary>The checkpoint before <see cref="LastCheckpoint"/>, kept so a corrupted last one can be
    /// skipped.</summary>
    public string PreviousCheckpoint => Path.Combine(CheckpointDir, "prev.ckpt");
    public string BestCheckpoint => Path.Combine(CheckpointDir, "best.ckpt");
    public string MetricsPath => Path.Combine(Root, "metrics.jsonl");
    public string CurvePath => Path.Combine(Root, "training_curve.png");
    public string RidgePath => Path.Combine(Root, "ridge.safetensors");
    public string LockPath => Path.Combine(Root, ".lock");

    /// <summary>The newest checkpoint that verifies (last, then prev); corrupt ones are reported and skipped.</summary>
    public Checkpoint LoadLatestGood(TextWriter? log) =>
        Checkpoint.LoadLatestGood(LastCheckpoint, PreviousCheckpoint, Root, log);

    /// <summary>
    /// Takes an exclusive lock on the run folder (an OS file lock, released when the process dies, so a crash never
    /// leaves a stale lock). A second process — or a second trainer in this process — gets a clear error.
    /// </summary>
    public IDisposable Lock()
    {
        Directory.CreateDirectory(Root);
        try
        {
            var fs = new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            fs.SetLength(0);
            var pid = System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n");
            fs.Write(pid);
            fs.Flush();
            return fs;
        }
        catch (IOException e)
        {
            throw new UserInputException(
                $"{Root}: run folder is in use by another training process (lock file {LockPath}: {e.Message})");
        }
    }
}
