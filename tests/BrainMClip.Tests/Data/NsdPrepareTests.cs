using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.IO;
using BrainMClip.Tests.Cli;
using Xunit;

namespace BrainMClip.Tests.Data;

/// <summary>
/// `nsd prepare` on a miniature NSD release written by tests/fixtures-gen/nsd_release_fixture.py (scipy, nibabel,
/// h5py; not by our synth) against the outputs its numpy port of Brain-Diffuser's prepare_nsddata.py computed.
/// </summary>
public class NsdPrepareTests
{
    const int Subject = 3;
    static string Release => TestPaths.Fixture("data/nsd_release/release");
    static string Expected(string name) => TestPaths.Fixture("data/nsd_release/expected/" + name);

    static NsdPrepareResult Prepare(string outDir, NsdBetasFormat? format = null, int? sessions = null,
        bool zscore = false, string? root = null) =>
        NsdPrepare.Run(new NsdPrepareOptions
        {
            NsdRoot = root ?? Release,
            Subject = Subject,
            OutDir = outDir,
            Format = format,
            Sessions = sessions,
            ZScoreSessions = zscore,
        }, TextWriter.Null);

    static void AssertSame(string expectedNpy, string actualNpy, bool exact)
    {
        var e = Npy.Read(expectedNpy);
        var a = Npy.Read(actualNpy);
        Assert.Equal(e.Shape, a.Shape);
        Assert.Equal(e.DType, a.DType);
        var ev = e.ToFloat64();
        var av = a.ToFloat64();
        for (int i = 0; i < ev.Length; i++)
            if (exact) Assert.True(ev[i] == av[i], $"{actualNpy}[{i}]: expected {ev[i]:R}, got {av[i]:R}");
            else Assert.True(Math.Abs(ev[i] - av[i]) <= 2e-6 * Math.Max(1, Math.Abs(ev[i])),
                $"{actualNpy}[{i}]: expected {ev[i]:R}, got {av[i]:R}");
    }

    static void AssertBytes(string expectedNpy, string actualNpy)
    {
        var e = Npy.Read(expectedNpy);
        var a = Npy.Read(actualNpy);
        Assert.Equal(e.Shape, a.Shape);
        Assert.Equal(e.DType, a.DType);
        Assert.Equal(e.Data, a.Data);
    }

    [Theory]
    [InlineData(NsdBetasFormat.Nifti)]
    [InlineData(NsdBetasFormat.Hdf5)]
    public void MatchesBrainDiffuserRowsOrderAndValues(NsdBetasFormat format)
    {
        using var dir = new TempDir();
        var r = Prepare(dir.Path, format);
        Assert.Equal(3, r.Sessions);
        foreach (var split in NsdSubject.Splits)
        {
            // Bit-identical: the same float32 additions in trial order and the same float32 division as numpy.
            AssertSame(Expected($"all_{split}_fmri.npy"), NsdSubject.FmriPathOf(dir.Path, Subject, split), exact: true);
            AssertBytes(Expected($"all_{split}_nsdid.npy"), NsdPrepare.IdsPath(dir.Path, Subject, split));
            AssertBytes(Expected($"all_{split}_stim.npy"), NsdSubject.StimuliPathOf(dir.Path, Subject, split));
        }
        var counts = JsonDocument.Parse(File.ReadAllText(Expected("counts.json"))).RootElement.GetProperty("all");
        var manifest = JsonDocument.Parse(File.ReadAllText(r.Manifest)).RootElement;
        foreach (var split in NsdSubject.Splits)
        {
            Assert.Equal(counts.GetProperty(split).GetProperty("trials").GetInt32(),
                manifest.GetProperty("trials").GetProperty(split).GetInt32());
            Assert.Equal(
                counts.GetProperty(split).GetProperty("repetitions").EnumerateArray().Select(x => x.GetInt32()),
                manifest.GetProperty("repetitions").GetProperty(split).EnumerateArray().Select(x => x.GetInt32()));
        }
        Assert.Equal(format == NsdBetasFormat.Nifti ? "nifti" : "hdf5",
            manifest.GetProperty("betas_format").GetString());
        Assert.True(manifest.GetProperty("test_images_all_shared").GetBoolean());
        // design, 6 masks, 3 sessions, stimuli
        Assert.Equal(1 + 6 + 3 + 1, manifest.GetProperty("sources").GetArrayLength());
        // ROI masks are byte copies; nothing but the layout is left in the output.
        foreach (var m in NsdRois.AllMasks)
            Assert.Equal(File.ReadAllBytes(NsdRelease.RoiPath(Release, Subject, m)),
                File.ReadAllBytes(NsdSubject.RoiPathOf(dir.Path, Subject, m)));
        Assert.Equal(["nsddata", "processed_data"],
            Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());

        // The prepared root loads as any Brain-Diffuser data root (what `data info` and `train` open).
        var s = NsdSubject.OpenChecked(dir.Path, Subject);
        Assert.Equal(counts.GetProperty("train").GetProperty("rows").GetInt32(), s.TrainSamples);
        Assert.Equal(counts.GetProperty("test").GetProperty("rows").GetInt32(), s.TestSamples);
        Assert.Equal(new[] { 2, 2, 3 }, s.ImageShape);
        Assert.Equal(r.Voxels, s.Voxels);
    }

    [Fact]
    public void SessionsLimitAndZScoreMatchNumpy()
    {
        using var dir = new TempDir();
        var r = Prepare(Path.Combine(dir.Path, "s2"), NsdBetasFormat.Hdf5, sessions: 2);
        Assert.Equal(2, r.Sessions);
        Assert.Equal(3, r.SessionsAvailable);
        foreach (var split in NsdSubject.Splits)
        {
            AssertSame(Expected($"s2_{split}_fmri.npy"), NsdSubject.FmriPathOf(r.OutDir, Subject, split), exact: true);
            AssertBytes(Expected($"s2_{split}_nsdid.npy"), NsdPrepare.IdsPath(r.OutDir, Subject, split));
        }
        var z = Prepare(Path.Combine(dir.Path, "z"), zscore: true);
        Assert.Equal(NsdBetasFormat.Nifti, z.Format); // auto: .nii.gz present
        foreach (var split in NsdSubject.Splits)
            AssertSame(Expected($"z_{split}_fmri.npy"), NsdSubject.FmriPathOf(z.OutDir, Subject, split), exact: false);
    }

    /// <summary>A copy of the fixture release that a test may damage.</summary>
    static string CopyRelease(string dir)
    {
        string root = Path.Combine(dir, "release");
        foreach (var f in Directory.EnumerateFiles(Release, "*", SearchOption.AllDirectories))
        {
            string dst = Path.Combine(root, Path.GetRelativePath(Release, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
        return root;
    }

    public static TheoryData<string, string> Damages() => new()
    {
        { "truncate", "betas_session02.nii.gz" },
        { "truncate", "betas_session03.hdf5" },
        { "truncate", "nsd_expdesign.mat" },
        { "corrupt", "nsd_expdesign.mat" },
        { "delete", "floc-words.nii.gz" },
        { "truncate", "nsd_stimuli.hdf5" },
        { "delete", "betas_session01.nii.gz" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void DamagedInputIsRefusedNamingItAndLeavesNothing(string damage, string file)
    {
        using var dir = new TempDir();
        string root = CopyRelease(dir.Path);
        string path = Directory.EnumerateFiles(root, file, SearchOption.AllDirectories).Single();
        var bytes = File.ReadAllBytes(path);
        if (damage == "truncate") File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
        else if (damage == "corrupt")
        {
            for (int i = 200; i < 260; i++) bytes[i] ^= 0x3c; // inside the first compressed variable
            File.WriteAllBytes(path, bytes);
        }
        else File.Delete(path);
        // A damaged session is read in its own format (auto would fall back to the other one when it is missing).
        NsdBetasFormat? format = !file.StartsWith("betas", StringComparison.Ordinal) ? null
            : file.EndsWith(".hdf5", StringComparison.Ordinal) ? NsdBetasFormat.Hdf5 : NsdBetasFormat.Nifti;
        string outDir = Path.Combine(dir.Path, "out");
        var e = Assert.Throws<UserInputException>(() => Prepare(outDir, format, root: root));
        Assert.Contains(path, e.Message);
        string[] left = Directory.Exists(outDir)
            ? Directory.GetFileSystemEntries(outDir, "*", SearchOption.AllDirectories)
            : [];
        Assert.False(Directory.Exists(outDir), $"partial output left: {string.Join(", ", left)}");

        // Into an existing folder: only what was there before remains.
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "x");
        Assert.Throws<UserInputException>(() => Prepare(outDir, format, root: root));
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName));
    }

    [Fact]
    public void MoreSessionsThanPresentIsRefusedNamingTheMissingFile()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<UserInputException>(() => Prepare(dir.Path, sessions: 4));
        Assert.Contains("betas_session04.nii.gz", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}

/// <summary>The command line: exit codes, the JSON report, `data info` on the output.</summary>
[Collection("Console")]
public class NsdPrepareCliTests
{
    [Fact]
    public void PreparesThenDataInfoRunsUnchanged()
    {
        using var dir = new TempDir();
        string release = TestPaths.Fixture("data/nsd_release/release");
        var (code, stdout, err) = CliRunner.Run("nsd", "prepare", "--nsd-root", release, "--subject", "3",
            "--out", dir.Path, "--betas", "hdf5", "--sessions", "2");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(239, j.GetProperty("train_samples").GetInt32());
        Assert.Equal(2, j.GetProperty("sessions").GetInt32());
        var (c2, info, e2) = CliRunner.Run("data", "info", "--data", dir.Path, "--subject", "3");
        Assert.True(c2 == 0, e2);
        Assert.Equal(239, JsonDocument.Parse(info).RootElement.GetProperty("train_samples").GetInt32());

        // features and train run on the prepared root as on any Brain-Diffuser root.
        string P(string x) => Path.Combine(dir.Path, x);
        Assert.Equal(0, CliRunner.Run("clip-init", "--out", P("clip"), "--preset", "tiny").Code);
        var (cf, _, ef) = CliRunner.Run("features", "--clip", P("clip"), "--input",
            NsdSubject.StimuliPathOf(dir.Path, 3, "train"), "--out", P("ftr.safetensors"));
        Assert.True(cf == 0, ef);
        File.WriteAllText(P("cfg.json"),
            """{"base": "tiny", "model": {"hidden": 16, "rank": 2}, "training": {"epochs": 1, "batch_size": 40}}""");
        var (ct, train, et) = CliRunner.Run("train", "--data", dir.Path, "--subject", "3", "--features",
            P("ftr.safetensors"), "--config", P("cfg.json"), "--out", P("run"));
        Assert.True(ct == 0, et);
        Assert.Equal(1, JsonDocument.Parse(train).RootElement.GetProperty("epochs_completed").GetInt32());

        // Again into the same folder: refused unless --force.
        var (c3, _, e3) = CliRunner.Run("nsd", "prepare", "--nsd-root", release, "--subject", "3", "--out", dir.Path);
        Assert.Equal(2, c3);
        Assert.Contains("already prepared", e3);
        Assert.Equal(0, CliRunner.Run("nsd", "prepare", "--nsd-root", release, "--subject", "3", "--out", dir.Path,
            "--force").Code);

        var (c4, _, e4) = CliRunner.Run("nsd", "prepare", "--nsd-root", release, "--subject", "9", "--out", dir.Path);
        Assert.Equal(2, c4);
        Assert.Contains("--subject", e4);
    }

    [Fact]
    public void TruncatedSessionExitsTwoNamingIt()
    {
        using var dir = new TempDir();
        string release = TestPaths.Fixture("data/nsd_release/release");
        string root = Path.Combine(dir.Path, "r");
        foreach (var f in Directory.EnumerateFiles(release, "*", SearchOption.AllDirectories))
        {
            string dst = Path.Combine(root, Path.GetRelativePath(release, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
        string s3 = NsdRelease.SessionPath(root, 3, 3, NsdBetasFormat.Nifti);
        var b = File.ReadAllBytes(s3);
        File.WriteAllBytes(s3, b[..(b.Length - 1000)]);
        string outDir = Path.Combine(dir.Path, "out");
        var (code, stdout, err) = CliRunner.Run("nsd", "prepare", "--nsd-root", root, "--subject", "3",
            "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains(s3, err);
        Assert.Contains("truncated", err);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(outDir));
    }
}
