using BrainMClip.Evaluation.Networks;
using BrainMClip.IO;
using BrainMClip.Parity;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BrainMClip.Tests.Evaluation;

/// <summary>
/// The metric networks against torchvision 0.14 (tests/fixtures-gen/eval_networks.py) on deterministic weights that
/// this test rebuilds from the same integer hash and writes as safetensors (some tensors F16, classifiers left out).
/// </summary>
public class NetworkTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("alexnet")]
    [InlineData("inception_v3")]
    [InlineData("efficientnet_b1")]
    [InlineData("resnet50")]
    public void NetworkMatchesTorchvision(string name)
    {
        var fixture = SafeTensors.Load(TestPaths.Fixture("eval/networks.safetensors"));
        using var tmp = new TempDir();
        string weights = Path.Combine(tmp.Path, name + ".safetensors");
        int f16;
        using (var net = MetricNetwork.Create(name))
            f16 = HashedWeights.Write(net, weights);
        Assert.True(f16 > 0);
        // Through the CLI, as a user checks a converted checkpoint: parity --component NAME --model DIR.
        string inPath = Path.Combine(tmp.Path, "in.safetensors"), outPath = Path.Combine(tmp.Path, "out.safetensors");
        SafeTensors.Save(inPath, new Dictionary<string, Tensor> { ["input"] = fixture[$"{name}.input"] });
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(
            ["parity", "--component", name, "--model", tmp.Path, "--inputs", inPath, "--out", outPath]));
        var outputs = SafeTensors.Load(outPath);
        foreach (var (node, got) in outputs)
        {
            var exp = fixture[$"{name}.{node}"];
            Assert.Equal(exp.shape, got.shape);
            double maxDiff = (got - exp).abs().max().item<float>();
            output.WriteLine(
                $"{name} {node}: max |diff| {maxDiff:E2} (max |ref| {exp.abs().max().item<float>():F3}, {f16} F16 " +
                $"tensors)");
            Assert.InRange(maxDiff, 0, 1e-4);
        }
    }
}

/// <summary>Deterministic weights identical to eval_networks.py's `weight_values` (integer hash, no RNG).</summary>
public static class HashedWeights
{
    static uint NameSeed(string name)
    {
        uint h = 0x811C9DC5;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(name)) h = unchecked((h ^ b) * 0x01000193);
        return h;
    }

    static double Uniform(long k, uint seed)
    {
        uint h = unchecked((uint)((ulong)k * 0x9E3779B1UL + seed));
        for (int i = 0; i < 2; i++) { h ^= h >> 16; h = unchecked(h * 0x45D9F3B); }
        h ^= h >> 16;
        return h / 4294967296.0;
    }

    public static float[] Values(string name, long[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        uint seed = NameSeed(name);
        var v = new float[n];
        for (long k = 0; k < n; k++)
        {
            double u = Uniform(k, seed), x;
            if (name.EndsWith("running_var")) x = 0.5 + u;
            else if (name.EndsWith("running_mean")) x = 0.2 * (2 * u - 1);
            else if (name.EndsWith("bias")) x = 0.1 * (2 * u - 1);
            else if (name.EndsWith("bn3.weight")) x = 0.2 + 0.05 * (2 * u - 1);
            else if (shape.Length == 1) x = 1 + 0.25 * (2 * u - 1);
            else x = (2 * u - 1) * Math.Sqrt(6.0 / (n / shape[0]));
            v[k] = (float)x;
        }
        return v;
    }

    /// <summary>Writes the module's torchvision-named weights (classifier heads omitted); returns how many are
    /// F16.</summary>
    public static int Write(MetricNetwork net, string path)
    {
        var root = net is InceptionV3Features
            ? net.named_children().First().module
            : net;
        var dict = new Dictionary<string, Tensor>();
        int f16 = 0;
        foreach (var (key, t) in root.state_dict())
        {
            if (key.EndsWith("num_batches_tracked") || net.IsOptionalKey(key)) continue;
            var values = tensor(Values(key, t.shape), t.shape);
            if (NameSeed(key) % 3 == 0) { values = values.to_type(ScalarType.Float16); f16++; }
            dict[key] = values;
        }
        SafeTensors.Save(path, dict);
        return f16;
    }
}

public class NetworkLoadingTests
{
    [Fact]
    public void WrongShapeOrMissingKeyNamesTheKey()
    {
        using var tmp = new TempDir();
        string path = Path.Combine(tmp.Path, "alexnet.safetensors");
        using var net = MetricNetwork.Create("alexnet");
        var sd = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        sd["features.3.weight"] = zeros(192, 64, 3, 3);
        SafeTensors.Save(path, sd);
        var e = Assert.Throws<UserInputException>(() => net.LoadWeights(path));
        Assert.Contains("features.3.weight", e.Message);
        Assert.Contains("[192,64,5,5]", e.Message);

        sd.Remove("features.3.weight");
        SafeTensors.Save(path, sd);
        e = Assert.Throws<UserInputException>(() => net.LoadWeights(path));
        Assert.Contains("features.3.weight", e.Message);
    }

    [Fact]
    public void TwoWayParityComponentWritesCountsScoreAndDistance()
    {
        var t = SafeTensors.Load(TestPaths.Fixture("eval/twoway.safetensors"));
        using var tmp = new TempDir();
        string inPath = Path.Combine(tmp.Path, "in.safetensors"), outPath = Path.Combine(tmp.Path, "out.safetensors");
        SafeTensors.Save(inPath, new Dictionary<string, Tensor> { ["real"] = t["real"], ["pred"] = t["pred"] });
        Assert.Equal(0,
            BrainMClip.Cli.Program.Main(["parity", "--component", "twoway", "--inputs", inPath, "--out", outPath]));
        var outp = SafeTensors.Load(outPath);
        Assert.Equal(t["twoway_score"].item<double>(), outp["twoway_score"].item<double>(), 12);
        Assert.Equal(t["twoway_counts"].data<long>().ToArray(), outp["twoway_counts"].data<long>().ToArray());
        Assert.InRange(Math.Abs(outp["corr_distance"].item<double>() - t["corr_distance"].item<double>()), 0, 1e-9);
        Assert.Throws<UserInputException>(() => new TwoWayParity()
            .Run(null, new Dictionary<string, Tensor> { ["real"] = t["real"] }));
    }
}
