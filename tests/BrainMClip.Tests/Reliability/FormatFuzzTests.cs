using BrainMClip.Features;
using BrainMClip.IO;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Reliability;

/// <summary>
/// Fuzzing of the HDF5 image source (PureHDF behind <see cref="Hdf5File"/>), JPEG decoding and the JSON configs the
/// CLIP path reads. Seeds are committed files written by h5py / Pillow (tests/fixtures-gen/reliability_fixtures.py).
/// </summary>
[Trait("Category", "Reliability")]
// Sequential: the fuzzer's per-case hang budget is wall-clock (a Task.Run item waited for 10 s); beside other tests
// on a loaded machine a case missed it (NIfTI case 1050, 30 Nov 2026, load 44) without hanging.
[Collection("Console")]
public class FormatFuzzTests(ITestOutputHelper log)
{
    static string Seed(string name) => TestPaths.Fixture("reliability/" + name);

    [Theory]
    [InlineData("images_f16.hdf5", "images")]
    [InlineData("images_gzip.h5", "images")]
    [InlineData("images_u8.hdf5", "stimuli/images")]
    public void Hdf5SeedsDecodeExactly(string file, string dataset)
    {
        using var f = Hdf5File.Open(Seed(file));
        var ds = f.Dataset(dataset);
        var expected = Npy.Read(Seed(file.Split('.')[0] + "_expected.npy"));
        Assert.Equal(expected.Shape.Select(d => (ulong)d), ds.Dims);
        if (ds.TypeSize == 1) Assert.Equal(expected.Data, ds.ReadRows<byte>(0, (int)ds.Dims[0]));
        else
        {
            float[] got = ds.TypeSize == 2 ? Array.ConvertAll(ds.ReadRows<Half>(0, (int)ds.Dims[0]),
                v => (float)v) : ds.ReadRows<float>(0, (int)ds.Dims[0]);
            Assert.Equal(expected.ToFloat32(), got);
        }
    }

    [Fact]
    public void Hdf5SourceOnMissingDatasetAndGroupNamesThem()
    {
        var e = Assert.Throws<UserInputException>(() => ImageSources.Open(Seed("images_u8.hdf5") + ":nope"));
        Assert.Contains("'nope' not found", e.Message);
        Assert.Contains("stimuli", e.Message);
        e = Assert.Throws<UserInputException>(() => ImageSources.Open(Seed("images_u8.hdf5") + ":stimuli"));
        Assert.Contains("not a dataset", e.Message);
        e = Assert.Throws<UserInputException>(() => ImageSources.Open(Seed("images_gzip.h5") + ":labels"));
        Assert.Contains("expected (N, 3, H, W)", e.Message);
    }

    [Theory]
    [InlineData("images")]     // chunked, no chunk written
    [InlineData("contiguous")] // contiguous, never allocated
    public void Hdf5DatasetClaimingMoreThanTheFileHoldsIsRejectedBeforeAllocating(string dataset)
    {
        // (100000, 3, 224, 224) float32 = 60 GB claimed by a 1.7 kB file.
        using var f = Hdf5File.Open(Seed("claims_huge.h5"));
        var e = Assert.Throws<UserInputException>(() => f.Dataset(dataset));
        Assert.Contains("claims_huge.h5:" + dataset, e.Message);
        Assert.Contains("more than this", e.Message);
        var e2 = Assert.Throws<UserInputException>(() => ImageSources.Open(Seed("claims_huge.h5") + ":" + dataset));
        Assert.Contains("claims_huge.h5", e2.Message);
    }

    /// <summary>Reads every row of the dataset as its element type, as the image source does.</summary>
    static void ReadAll(string path, string dataset)
    {
        using var f = Hdf5File.Open(path, TimeSpan.FromSeconds(5));
        var ds = f.Dataset(dataset);
        if (ds.Dims.Length == 0 || ds.Dims[0] == 0) return;
        int rows = (int)Math.Min(ds.Dims[0], 4);
        _ = ds.TypeSize switch
        {
            1 => ds.ReadRows<byte>(0, rows).Length,
            2 => ds.ReadRows<Half>(0, rows).Length,
            4 => ds.ReadRows<float>(0, rows).Length,
            8 => ds.ReadRows<double>(0, rows).Length,
            _ => 0,
        };
    }

    [Fact]
    public void Hdf5ReaderRejectsMutationsCleanly()
    {
        var seeds = new[]
            { "images_f16.hdf5", "images_gzip.h5", "images_u8.hdf5" }.Select(f => File.ReadAllBytes(Seed(f))).ToArray();
        string[] names = ["images", "images", "stimuli/images"];
        int n = 0;
        // Metadata lives throughout an HDF5 file (superblock, object headers, B-trees, heaps), so mutate anywhere.
        var r = Fuzzer.Run("hdf5", seeds, 2400, ".h5", p => ReadAll(p, names[n++ % 3]), log, headerBytes: 4096);
        Assert.Equal(2400, r.Cases);
        Assert.True(r.Rejected > 0 && r.Accepted > 0);
    }

    [Fact]
    public void Hdf5ImageSourceRejectsMutationsCleanly()
    {
        // The whole path `features --input FILE.hdf5` takes: open, validate shape/type, load and preprocess rows.
        var seeds = new[] { File.ReadAllBytes(Seed("images_f16.hdf5")), File.ReadAllBytes(Seed("images_gzip.h5")) };
        var processor = ClipImageProcessor.ForSize(8);
        var r = Fuzzer.Run("hdf5-source", seeds, 400, ".hdf5", p =>
        {
            using var scope = NewDisposeScope();
            using var src = ImageSources.Open(p);
            src.Load(0, (int)Math.Min(src.Count, 2), processor);
        }, log, headerBytes: 4096);
        Assert.Equal(400, r.Cases);
    }

    [Fact]
    public void JpegReaderRejectsMutationsCleanly()
    {
        var seeds = new[] { File.ReadAllBytes(Seed("seed.jpg")), File.ReadAllBytes(Seed("seed_progressive.jpg")) };
        var r = Fuzzer.Run("jpeg", seeds, 1200, ".jpg", p => ImageIO.Read(p), log, headerBytes: 400);
        Assert.Equal(1200, r.Cases);
    }

    [Fact]
    public void ClipConfigRejectsMutationsCleanly()
    {
        // Through FromPretrained: a config that parses must also not make the model allocate what the weights don't
        // hold.
        string src = TestPaths.Fixture("clip/clipmodel");
        var seeds = new[]
            { File.ReadAllBytes(Path.Combine(src, "config.json")),
            System.Text.Encoding.UTF8.GetBytes(ClipVisionConfig.Preset("tiny").ToJson()) };
        using var dir = new TempDir();
        var r = Fuzzer.Run("clip-config.json", seeds, 600, "/config.json", p =>
        {
            string folder = Path.GetDirectoryName(p)!;
            if (!File.Exists(Path.Combine(folder, "model.safetensors")))
                File.Copy(Path.Combine(src, "model.safetensors"), Path.Combine(folder, "model.safetensors"));
            using var scope = NewDisposeScope();
            ClipVisionModel.FromPretrained(folder).Dispose();
        }, log, mutate: JsonMutator.Mutate);
        Assert.Equal(600, r.Cases);
        Assert.True(r.Rejected > 0);
    }

    [Fact]
    public void PreprocessorConfigRejectsMutationsCleanly()
    {
        var seeds = new[]
            { File.ReadAllBytes(TestPaths.Fixture("clip/clipmodel/preprocessor_config.json")),
            System.Text.Encoding.UTF8.GetBytes(ClipCheckpointFactory.PreprocessorJson(64)) };
        var img = new RgbImage(5, 7);
        new Random(2).NextBytes(img.Pixels);
        var r = Fuzzer.Run("preprocessor_config.json", seeds, 1000, ".json", p =>
        {
            // A processor that loads must also be usable on an image without crashing or allocating absurd buffers.
            var proc = ClipImageProcessor.FromFile(p);
            using var scope = NewDisposeScope();
            proc.Preprocess([img]);
        }, log, mutate: JsonMutator.Mutate);
        Assert.Equal(1000, r.Cases);
        Assert.True(r.Rejected > 0);
    }
}
