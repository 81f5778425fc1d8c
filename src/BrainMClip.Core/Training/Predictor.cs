using System.Globalization;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Training;

/// <summary>Loads a trained run folder (BrainMCLIP checkpoint or ridge) and predicts tokens from z-scored
/// voxels.</summary>
public sealed class Predictor : IDisposable
{
    readonly BrainMClipNet? _net;
    readonly Dictionary<string, Tensor>? _ridge;
    readonly Device _device;
    public BrainMClipConfig Config { get; }
    public int VoxelsDetail { get; }
    public int VoxelsSemantic { get; }
    /// <summary>Which checkpoint was loaded (for reports).</summary>
    public string Source { get; }

    Predictor(BrainMClipConfig cfg, BrainMClipNet? net, Dictionary<string, Tensor>? ridge, int vD, int vS,
        string source, Device device)
    {
        Config = cfg; _net = net; _ridge = ridge; VoxelsDetail = vD; VoxelsSemantic = vS; Source = source;
        _device = device;
    }

    /// <summary>Opens RUN: config.json plus best.ckpt (falling back to the newest good checkpoint) or
    /// ridge.safetensors, with the weights on <paramref name="device"/> (default the CPU).</summary>
    public static Predictor Open(string runDir, TextWriter? log = null, Device? device = null)
    {
        device ??= CPU;
        var run = new RunFolder(runDir);
        UserInputException.RequireDirectory(run.Root, "run folder");
        UserInputException.RequireFile(run.ConfigPath, "run configuration (config.json)");
        var cfg = BrainMClipConfig.Parse(File.ReadAllText(run.ConfigPath), run.ConfigPath);
        if (cfg.IsRidge)
        {
            var ridge = SafeTensors.Load(run.RidgePath, out var meta);
            int vD = int.Parse(meta["voxels_detail"], CultureInfo.InvariantCulture),
                vS = int.Parse(meta["voxels_semantic"], CultureInfo.InvariantCulture);
            foreach (var t in ridge.Values) t.DetachFromDisposeScope();
            if (!TorchSetup.IsCpu(device))
                foreach (var k in ridge.Keys.ToList())
                {
                    var moved = ridge[k].to(device).DetachFromDisposeScope();
                    ridge[k].Dispose();
                    ridge[k] = moved;
                }
            return new Predictor(cfg, null, ridge, vD, vS, run.RidgePath, device);
        }
        Checkpoint? ck = Checkpoint.TryLoad(run.BestCheckpoint, out var problem);
        string source = run.BestCheckpoint;
        if (ck is null)
        {
            log?.WriteLine($"warning: {run.BestCheckpoint}: {problem}; using the newest good checkpoint instead");
            ck = run.LoadLatestGood(log);
            source = File.Exists(run.LastCheckpoint) ? run.LastCheckpoint : run.PreviousCheckpoint;
        }
        using (ck)
        {
            int vD = int.Parse(ck.Metadata["voxels_detail"], CultureInfo.InvariantCulture),
                vS = int.Parse(ck.Metadata["voxels_semantic"], CultureInfo.InvariantCulture);
            var net = new BrainMClipNet(cfg, vD, vS);
            Checkpoint.LoadModel(net, ck, source);
            net.eval();
            net.to(device);
            return new Predictor(cfg, net, null, vD, vS, $"{source} (epoch {ck.Epoch})", device);
        }
    }

    /// <summary>Predicts from z-scored voxels (N,N_D) and (N,N_S) at fusion weight λ (default: the config's), on the
    /// predictor's device; the predictions are on the CPU.</summary>
    public Predictions Predict(Tensor detailVoxels, Tensor semanticVoxels, double? lambda = null, int batch = 100)
    {
        double lam = lambda ?? Config.Fusion.Lambda;
        if (detailVoxels.shape[1] != VoxelsDetail || semanticVoxels.shape[1] != VoxelsSemantic)
            throw new UserInputException(
                $"the run was trained on {VoxelsDetail} detail / {VoxelsSemantic} semantic voxels but the data have " +
                    $"{detailVoxels.shape[1]} / {semanticVoxels.shape[1]} (different subject or ROI masks?)");
        if (detailVoxels.shape[0] != semanticVoxels.shape[0])
            throw new UserInputException(
                $"detail and semantic matrices have {detailVoxels.shape[0]} and {semanticVoxels.shape[0]} rows");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var m = Config.Model;
        long n = detailVoxels.shape[0];
        Tensor? detail = null, semantic = null, projected = null;
        if (_ridge is not null)
        {
            detail = Linear(detailVoxels, "detail").reshape(n, m.Tokens, m.DetailWidth);
            semantic = Linear(semanticVoxels, "semantic").reshape(n, m.Tokens, m.SemanticWidth).cpu();
            projected = Linear(detail, "fusion").cpu();
            detail = detail.cpu();
        }
        else
        {
            var net = _net!;
            var dParts = new List<Tensor>(); var sParts = new List<Tensor>(); var pParts = new List<Tensor>();
            for (long s = 0; s < n; s += batch)
            {
                long c = Math.Min(batch, n - s);
                var o = net.Forward(
                    Config.UsesDetail ? detailVoxels.narrow(0, s, c).to(ScalarType.Float32, _device) : null,
                    Config.UsesSemantic ? semanticVoxels.narrow(0, s, c).to(ScalarType.Float32, _device) : null);
                if (o.Detail is not null) { dParts.Add(o.Detail.cpu()); pParts.Add(net.Project(o.Detail).cpu()); }
                if (o.Semantic is not null) sParts.Add(o.Semantic.cpu());
            }
            if (dParts.Count > 0) { detail = cat(dParts, 0); projected = cat(pParts, 0); }
            if (sParts.Count > 0) semantic = cat(sParts, 0);
        }
        Tensor fused = semantic is not null && projected is not null ? Conditioning.Fuse(semantic, projected, lam)
            : Conditioning.Renorm(semantic ?? projected!);
        return new Predictions
        {
            Detail = detail?.MoveToOuterDisposeScope(),
            Semantic = semantic?.MoveToOuterDisposeScope(),
            DetailProjected = projected?.MoveToOuterDisposeScope(),
            Fused = fused.MoveToOuterDisposeScope(),
            Lambda = lam,
            Model = Config.IsRidge ? "ridge" : $"brainmclip:{Config.Name}",
        };
    }

    Tensor Linear(Tensor x, string name) =>
        RidgeMap.Apply(x.to(_device), _ridge![$"{name}.weight"], _ridge[$"{name}.bias"]);

    public void Dispose()
    {
        _net?.Dispose();
        if (_ridge is not null) foreach (var t in _ridge.Values) t.Dispose();
    }
}
