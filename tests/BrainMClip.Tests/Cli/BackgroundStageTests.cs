using System.Diagnostics;
using BrainMClip.Cli.Demo;
using Xunit;

namespace BrainMClip.Tests.Cli;

/// <summary>The demo's child-process stage: stdout is the result, stderr goes to the log, a failing child is a failed
/// stage with its exit code, and disposing stops a child that is still running.</summary>
public class BackgroundStageTests
{
    static ProcessStartInfo Shell(string script) => new("/bin/sh") { ArgumentList = { "-c", script } };

    [Fact]
    public void StdoutIsTheResultAndStderrTheLog()
    {
        using var dir = new TempDir();
        string log = Path.Combine(dir.Path, "stage.log");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var stage = BackgroundStage.Start("t", log, Shell("sleep 0.3; echo progress 1 >&2; " +
            "echo '{\"ok\":1}'; echo progress 2 >&2")))
        {
            var (stdout, seconds) = stage.Wait();
            Assert.Equal("{\"ok\":1}", stdout.Trim());
            // The child's time: about its sleep (the stage's clock starts after the launch, so a few ms less than
            // 0.3 s are possible; 0.292 s measured), at most the time around Start and Wait.
            Assert.InRange(seconds, 0.2, clock.Elapsed.TotalSeconds);
        }
        Assert.Equal(["progress 1", "progress 2"], File.ReadAllLines(log));
    }

    [Fact]
    public void WaitingReportsTheChildsLatestProgressLine()
    {
        using var dir = new TempDir();
        var seen = new List<string>();
        using var stage = BackgroundStage.Start("t", Path.Combine(dir.Path, "x.log"),
            Shell("echo 'step 1/2' >&2; sleep 1; echo 'step 2/2' >&2; sleep 2; echo done"));
        var (stdout, _) = stage.Wait(seen.Add, TimeSpan.FromMilliseconds(100));
        Assert.Equal("done", stdout.Trim());
        Assert.Contains("step 2/2", seen); // polled for 2 s after it was written
        Assert.All(seen, line => Assert.Contains(line, new[] { "step 1/2", "step 2/2" }));
    }

    [Fact]
    public void AFailingChildIsAFailedStageWithItsExitCode()
    {
        using var dir = new TempDir();
        using var stage = BackgroundStage.Start("8. generator", Path.Combine(dir.Path, "x.log"), Shell("exit 2"));
        var e = Assert.Throws<DemoStageException>(() => stage.Wait());
        Assert.Equal(2, e.Code);
        Assert.Contains("8. generator", e.Message);
    }

    [Fact]
    public void DisposingStopsARunningChild()
    {
        using var dir = new TempDir();
        string marker = Path.Combine(dir.Path, "pid");
        using (BackgroundStage.Start("t", Path.Combine(dir.Path, "x.log"), Shell($"echo $$ > {marker}; sleep 60")))
        {
            while (!File.Exists(marker) || new FileInfo(marker).Length == 0) Thread.Sleep(10);
        }
        int pid = int.Parse(File.ReadAllText(marker).Trim());
        Assert.Throws<ArgumentException>(() => Process.GetProcessById(pid));
    }
}
