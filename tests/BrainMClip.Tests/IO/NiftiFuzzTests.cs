using BrainMClip.IO;
using BrainMClip.Tests.Reliability;
using Xunit;
using Xunit.Abstractions;

namespace BrainMClip.Tests.IO;

/// <summary>Mutated NIfTI files (header corruption, truncation, bit flips) parse or fail with UserInputException
/// only.</summary>
[Trait("Category", "Reliability")]
// Sequential: the fuzzer's per-case hang budget is wall-clock (a Task.Run item waited for 10 s); beside other tests
// on a loaded machine a case missed it (NIfTI case 1050, 30 Nov 2026, load 44) without hanging.
[Collection("Console")]
public class NiftiFuzzTests(ITestOutputHelper log)
{
    [Fact]
    public void NiftiReaderRejectsMutationsCleanly()
    {
        var seeds = new[] { "uint8.nii", "float32_bigendian.nii", "float64_extension.nii" }
            .Select(f => File.ReadAllBytes(TestPaths.Fixture("data/nifti/" + f))).ToArray();
        var r = Fuzzer.Run("nii", seeds, 1500, ".nii", p => Nifti.Read(p), log, headerBytes: 352);
        Assert.Equal(1500, r.Cases);
    }

    [Fact]
    public void GzipNiftiReaderRejectsMutationsCleanly()
    {
        var seeds = new[] { "int16.nii.gz", "int16_scaled.nii.gz" }
            .Select(f => File.ReadAllBytes(TestPaths.Fixture("data/nifti/" + f))).ToArray();
        var r = Fuzzer.Run("nii.gz", seeds, 600, ".nii.gz", p => Nifti.Read(p), log, headerBytes: 64);
        Assert.Equal(600, r.Cases);
    }
}
