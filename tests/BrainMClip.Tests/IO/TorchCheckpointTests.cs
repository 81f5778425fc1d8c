using System.Collections;
using BrainMClip.Evaluation;
using BrainMClip.Evaluation.Networks;
using BrainMClip.Features;
using BrainMClip.Generation.Models;
using BrainMClip.IO;
using TorchSharp.PyBridge;
using Xunit;
using static TorchSharp.torch;

namespace BrainMClip.Tests.IO;

/// <summary>
/// PyTorch checkpoints written by torch.save (python3-torch 1.13, tests/fixtures-gen/torch_checkpoints.py) load as
/// they are and give exactly the tensors of the same weights saved as safetensors; what is not a plain state dict of
/// tensors is refused by name.
/// </summary>
public class TorchCheckpointTests
{
    static string Fixture(string name) => TestPaths.Fixture(Path.Combine("checkpoints", name));

    /// <summary>Same keys, dtypes, shapes and bytes (in logical order).</summary>
    static void AssertSameTensors(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> got)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, e) in expected)
        {
            var g = got[k];
            Assert.True(e.dtype == g.dtype, $"{k}: dtype {g.dtype}, expected {e.dtype}");
            Assert.Equal(e.shape, g.shape);
            Assert.True(e.contiguous().bytes.ToArray().SequenceEqual(g.contiguous().bytes.ToArray()), k);
        }
    }

    [Fact]
    public void ZipStateDictAndHubCheckpointEqualTheSafetensorsFile()
    {
        using var scope = NewDisposeScope();
        var st = SafeTensors.Load(Fixture("weights.safetensors"));
        Assert.Equal(WeightFileKind.TorchZip, TorchCheckpoint.Kind(Fixture("weights.bin")));
        Assert.Equal(WeightFileKind.SafeTensors, TorchCheckpoint.Kind(Fixture("weights.safetensors")));
        var bin = TorchCheckpoint.ReadStateDict(Fixture("weights.bin"));
        AssertSameTensors(st, bin);
        // The fixture covers what state dicts hold: half, bfloat16, float64, a 0-d int64 and two keys sharing one
        // storage.
        Assert.Equal(ScalarType.BFloat16, bin["bf.weight"].dtype);
        Assert.Equal(12345L, bin["norm.num_batches_tracked"].item<long>());
        Assert.Equal(bin["tied.a"].bytes.ToArray(), bin["tied.b"].bytes.ToArray());
        // torch hub / ImageNet training checkpoints: {'state_dict': ..., 'epoch': 7, 'arch': 'tiny'}.
        AssertSameTensors(st, TorchCheckpoint.ReadStateDict(Fixture("hub.pth.tar")));
    }

    [Theory]
    [InlineData("legacy.pth", "legacy (pre-1.6, non-zip) torch.save format")]
    [InlineData("module.pth", "whole pickled module")]
    [InlineData("optimizer.pth", "not a plain state dict of tensors")]
    [InlineData("list.pth", "something other than a dictionary")]
    public void WhatIsNotAPlainStateDictIsRefusedByName(string file, string expected)
    {
        var e = Assert.Throws<UserInputException>(() => TorchCheckpoint.ReadStateDict(Fixture(file)));
        Assert.Contains(Fixture(file), e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("expected", e.Message);
    }

    /// <summary>
    /// Tensors PyBridge 1.4.4 cannot rebuild (non-contiguous storage, a view at an offset into a larger storage) are
    /// refused naming the file and the remedy, never loaded with wrong values.
    /// </summary>
    [Theory]
    [InlineData("transposed.bin")]
    [InlineData("offset.bin")]
    public void ViewsPyBridgeCannotRebuildAreRefusedNeverWrong(string file)
    {
        var e = Assert.Throws<UserInputException>(() => TorchCheckpoint.ReadStateDict(Fixture(file)));
        Assert.Contains(Fixture(file), e.Message);
        Assert.Contains(".contiguous()", e.Message);
    }

    static string CopyClip(TempDir dir, string name, params string[] files)
    {
        string d = Path.Combine(dir.Path, name);
        Directory.CreateDirectory(d);
        foreach (var f in new[] { "config.json", "preprocessor_config.json" }.Concat(files))
            File.Copy(Fixture(Path.Combine("clip", f)), Path.Combine(d, f));
        return d;
    }

    /// <summary>The must-show: a pytorch_model.bin gives the same features as model.safetensors.</summary>
    [Fact]
    public void ClipPytorchModelBinGivesTheSameFeaturesAsModelSafetensors()
    {
        using var dir = new TempDir();
        string st = CopyClip(dir, "st", "model.safetensors");
        string bin = CopyClip(dir, "bin", "pytorch_model.bin");
        string shards = CopyClip(dir, "shards", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin",
            "pytorch_model-00002-of-00002.bin");
        var px = new byte[5 * 20 * 18 * 3];
        new Random(3).NextBytes(px);
        string npy = Path.Combine(dir.Path, "stim.npy");
        Npy.WriteUInt8(npy, [5, 20, 18, 3], px);
        byte[] Features(string ckpt)
        {
            string o = Path.Combine(dir.Path, Path.GetFileName(ckpt) + ".safetensors");
            FeatureExtractor.Run(new FeatureExtractionOptions
            {
                Checkpoint = ckpt,
                Input = npy,
                Output = o,
                Batch = 2,
                Progress = false,
                HiddenStates = "all",
            });
            var t = SafeTensors.Load(o);
            return t.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.bytes.ToArray()).ToArray();
        }
        var reference = Features(st);
        Assert.Equal(reference, Features(bin));
        Assert.Equal(reference, Features(shards));
        // model.safetensors is preferred when both are present (as Hugging Face does): a broken .bin beside it is
        // never read, and alone it is refused naming the file.
        File.WriteAllBytes(Path.Combine(st, "pytorch_model.bin"),
            File.ReadAllBytes(Fixture("clip/pytorch_model.bin"))[..40000]); // truncated: no zip directory
        using (ClipVisionModel.FromPretrained(st)) { }
        File.Delete(Path.Combine(st, "model.safetensors"));
        var e = Assert.Throws<UserInputException>(() => ClipVisionModel.FromPretrained(st));
        Assert.Contains(Path.Combine(st, "pytorch_model.bin"), e.Message);
    }

    [Fact]
    public void VaeFromDiffusionPytorchModelBinEqualsTheSafetensorsRoute()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        string st = TestPaths.Fixture("diffusion/vae-3level-legacy");
        File.Copy(Path.Combine(st, "config.json"), Path.Combine(dir.Path, "config.json"));
        File.Copy(Fixture("vae/diffusion_pytorch_model.bin"), Path.Combine(dir.Path, "diffusion_pytorch_model.bin"));
        Assert.EndsWith("diffusion_pytorch_model.bin", WeightLoader.FindWeights(dir.Path));
        using var a = AutoencoderKL.FromPretrained(st);
        using var b = AutoencoderKL.FromPretrained(dir.Path);
        AssertSameTensors(a.state_dict(), b.state_dict());
    }

    [Fact]
    public void UNetFolderWithOnlyABinLoadsTheSameWeights()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        string st = TestPaths.Fixture("diffusion/unet-linear");
        File.Copy(Path.Combine(st, "config.json"), Path.Combine(dir.Path, "config.json"));
        // Written by PyBridge's pickler (torch.save's zip layout); the python-written fixtures above prove the format.
        PyTorchPickler.PickleStateDict(Path.Combine(dir.Path, "diffusion_pytorch_model.bin"),
            new Hashtable(SafeTensors.Load(Path.Combine(st, "model.safetensors"))));
        using var a = UNet2DConditionModel.FromPretrained(st);
        using var b = UNet2DConditionModel.FromPretrained(dir.Path);
        AssertSameTensors(a.state_dict(), b.state_dict());
    }

    [Fact]
    public void MetricNetworkPthWithDataParallelPrefixIsFoundAndLoadsTheSameWeights()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        using var source = MetricNetwork.Create("efficientnet_b1");
        var sd = source.WeightsStateDict().Where(kv => !source.IsOptionalKey(kv.Key))
            .ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? rand_like(kv.Value) : kv.Value.clone());
        SafeTensors.Save(Path.Combine(dir.Path, "ref.safetensors"), sd);
        var prefixed = new Hashtable();
        foreach (var (k, v) in sd) prefixed["module." + k] = v;
        PyTorchPickler.PickleStateDict(Path.Combine(dir.Path, "efficientnet_b1.pth"), prefixed);
        string found = Evaluator.FindNetworkFile(dir.Path, "efficientnet_b1.safetensors")!;
        Assert.EndsWith("efficientnet_b1.pth", found);
        using var a = MetricNetwork.Create("efficientnet_b1");
        using var b = MetricNetwork.Create("efficientnet_b1");
        a.LoadWeights(Path.Combine(dir.Path, "ref.safetensors"));
        var report = b.LoadWeights(found);
        Assert.Empty(report.Unexpected);
        AssertSameTensors(a.WeightsStateDict(), b.WeightsStateDict());
    }
}
