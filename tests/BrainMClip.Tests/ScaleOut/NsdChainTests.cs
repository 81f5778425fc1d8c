using System.Diagnostics;
using Xunit;

namespace BrainMClip.Tests.ScaleOut;

/// <summary>
/// scripts/nsd/: the whole chain from a miniature NSD release (written by `synth --nsd-release`, the release layout
/// `nsd prepare` reads) to report.html with one command, its resumption, and the SLURM submitter's dependency chain
/// (with a fake sbatch that records its arguments).
/// </summary>
public class NsdChainTests
{
    static string Scripts => Path.Combine(TestPaths.RepoRoot, "scripts", "nsd");
    static string Cli => Path.Combine(AppContext.BaseDirectory, "brainmclip");

    static (string Stdout, string Stderr) Run(string file, IReadOnlyDictionary<string, string>? env,
        params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        psi.Environment["BRAINMCLIP"] = Cli;
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}\n{stdout.Result}\n{stderr}");
        return (stdout.Result, stderr);
    }

    static readonly string[] Stages = ["prepare", "clip-init", "features-train", "features-test", "train", "predict",
        "retrieve", "generator", "reconstruct", "nets-init", "evaluate", "report"];

    [Fact]
    public void OneCommandRunsTheReleaseToAReportAndResumes()
    {
        using var tmp = new TempDir();
        string rel = Path.Combine(tmp.Path, "release"), work = Path.Combine(tmp.Path, "work");
        Run(Cli, null, "synth", "--nsd-release", "--out", rel, "--sessions", "1", "--betas", "hdf5", "--seed", "3");
        string[] chain =
        [
            Path.Combine(Scripts, "run-local.sh"), "--nsd-root", rel, "--subject", "1", "--work", work,
            "--config", "tiny", "--epochs", "1", "--gen-steps", "4", "--recon-steps", "2", "--limit", "4",
            "--metrics", "pixcorr,ssim,alexnet2,clip",
        ];
        var (_, log) = Run("bash", null, chain);

        Assert.True(File.Exists(Path.Combine(work, "report.html")), log);
        string sub = Path.Combine(work, "data", "processed_data", "subj01");
        foreach (var f in new[]
        {
            Path.Combine(sub, "prepare.json"), Path.Combine(sub, "nsd_train_fmriavg_nsdgeneral_sub1.npy"),
            Path.Combine(work, "features", "train.safetensors"), Path.Combine(work, "features", "test.safetensors"),
            Path.Combine(work, "run", "config.json"), Path.Combine(work, "run", "pred_test.safetensors"),
            Path.Combine(work, "retrieval.json"), Path.Combine(work, "generator", "generator.json"),
            Path.Combine(work, "recon", "rec_003.png"), Path.Combine(work, "eval", "METRICS.json"),
        })
            Assert.True(File.Exists(f), $"missing {f}\n{log}");
        Assert.False(File.Exists(Path.Combine(work, "recon", "rec_004.png"))); // --limit 4 reached reconstruct
        string metrics = File.ReadAllText(Path.Combine(work, "eval", "METRICS.json"));
        Assert.Contains("alexnet2", metrics);
        // features --dtype float16: the safetensors header names F16.
        byte[] head = File.ReadAllBytes(Path.Combine(work, "features", "train.safetensors"))[..2048];
        Assert.Contains("\"F16\"", System.Text.Encoding.Latin1.GetString(head));
        var timings = File.ReadAllLines(Path.Combine(work, "timings.tsv")).Select(l => l.Split('\t')[0]).ToList();
        Assert.Equal(Stages, timings);

        // Rerun: every stage is skipped, nothing is redone; a removed marker reruns just that stage.
        var report = File.GetLastWriteTimeUtc(Path.Combine(work, "report.html"));
        var (_, again) = Run("bash", null, chain);
        foreach (var s in Stages) Assert.Contains($"== {s}: done, skipped", again);
        Assert.Equal(report, File.GetLastWriteTimeUtc(Path.Combine(work, "report.html")));
        File.Delete(Path.Combine(work, ".done", "report"));
        var (_, third) = Run("bash", null, chain);
        Assert.Contains("== report: ", third);
        Assert.DoesNotContain("== report: done, skipped", third);
        Assert.Equal([.. Stages, "report"],
            File.ReadAllLines(Path.Combine(work, "timings.tsv")).Select(l => l.Split('\t')[0]));
    }

    [Fact]
    public void SubmitChainsTheJobsWithAfterokAndAsksForGpus()
    {
        using var tmp = new TempDir();
        string bin = Path.Combine(tmp.Path, "bin"), log = Path.Combine(tmp.Path, "sbatch.log");
        Directory.CreateDirectory(bin);
        // A fake sbatch: records its arguments (one job per line, fields split by \x1f) and answers a job id.
        File.WriteAllText(Path.Combine(bin, "sbatch"),
            "#!/usr/bin/env bash\nn=$(( $( (cat \"$SBATCH_LOG\" 2>/dev/null || true) | wc -l) + 100 ))\n" +
            "printf '%s\\x1f' \"$@\" >> \"$SBATCH_LOG\"; echo >> \"$SBATCH_LOG\"\necho \"$n;cluster\"\n");
        Run("chmod", null, "+x", Path.Combine(bin, "sbatch"));
        var env = new Dictionary<string, string>
        {
            ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
            ["SBATCH_LOG"] = log,
        };
        var (ids, _) = Run("bash", env, Path.Combine(Scripts, "submit.sh"), "--nsd-root", "/data/nsd", "--subject",
            "2", "--work", Path.Combine(tmp.Path, "w"), "--device", "cuda", "--feature-shards", "4");
        var jobs = File.ReadAllLines(log).Select(l => l.Split('\x1f', StringSplitOptions.RemoveEmptyEntries))
            .ToList();
        Assert.Equal(Enumerable.Range(100, 9).Select(i => $"{i}"),
            ids.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        string[] names = ["prepare", "features-train", "merge-train", "features-test", "merge-test", "train",
            "generator", "reconstruct", "evaluate"];
        Assert.Equal(names.Select(n => $"--job-name=nsd-{n}"),
            jobs.Select(j => j.Single(a => a.StartsWith("--job-name"))));
        string? Dep(int i) => jobs[i].SingleOrDefault(a => a.StartsWith("--dependency="));
        string?[] expected = [null, "afterok:100", "afterok:101", "afterok:100", "afterok:103", "afterok:102:104",
            "afterok:102:104", "afterok:105:106", "afterok:107"];
        Assert.Equal(expected.Select(d => d == null ? null : "--dependency=" + d), jobs.Select((_, i) => Dep(i)));
        bool[] gpu = [false, true, false, true, false, true, true, true, true];
        Assert.Equal(gpu, jobs.Select(j => j.Contains("--gres=gpu:1")));
        Assert.Contains("--array=0-3", jobs[1]);
        Assert.Contains("--array=0-7", jobs[7]);
        Assert.Contains(jobs[5], a => a.Contains("--only train\\,predict\\,retrieve") && a.Contains("--device cuda"));
        Assert.Contains(jobs[8], a => a.Contains("--only nets-init\\,evaluate\\,report"));
    }
}
