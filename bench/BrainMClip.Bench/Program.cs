using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.Features;
using BrainMClip.Generation.Models;
using BrainMClip.Generation.Pipelines;
using BrainMClip.Generation.Schedulers;
using BrainMClip.Generation.Training;
using BrainMClip.IO;
using BrainMClip.Model;
using BrainMClip.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace BrainMClip.Bench;

/// <summary>One prepared workload: <see cref="Step"/> is timed; <see cref="Units"/> converts a time to a
/// rate.</summary>
sealed record Workload(Action Step, IDisposable? Owner, JsonObject Info);

/// <summary>
/// Plain benchmark harness: one workload per process (so peak RSS and allocator state are per workload), warm-up
/// runs, then timed repetitions; prints one JSON object on stdout. bench/run drives it next to bench/pytorch/bench.py.
/// Usage: brainmclip-bench NAME [--reps N] [--warmup N] [--threads N] [--quick] [--data DIR] [--repo DIR]
/// </summary>
static class Program
{
    static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine(
                "usage: brainmclip-bench NAME [--reps N] [--warmup N] [--threads N] [--quick] [--data DIR] [--repo " +
                "DIR] [--batch K] [--phases]");
            Console.Error.WriteLine("names: " + string.Join(" ", Names));
            return args.Length == 0 ? 2 : 0;
        }
        string name = args[0];
        int reps = 5, warmup = 1, threads = 2, batch = 1;
        bool quick = false, phases = false;
        string data = Path.GetTempPath(), repo = Directory.GetCurrentDirectory();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--quick": quick = true; break;
                case "--phases": phases = true; break;
                case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--data": data = args[++i]; break;
                case "--repo": repo = args[++i]; break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        }
        torch.set_num_threads(threads);
        var result = new JsonObject
        { ["name"] = name, ["side"] = "brainmclip", ["threads"] = torch.get_num_threads(), ["quick"] = quick };
        if (name == "demo")
        {
            // Wall time and peak RSS of the CLI's own demo, measured around the child process (see bench/run for the
            // command).
            Console.Error.WriteLine("demo is timed by bench/run with /usr/bin/time");
            return 2;
        }
        if (name == "blas_check")
        {
            result["gflops"] = MatmulGflops();
            result["blas"] = "MKL (statically linked into TorchSharp's libtorch_cpu " + torch.__version__ + ")";
            Console.WriteLine(result.ToJsonString());
            return 0;
        }
        var trace = new StepPhases { Enabled = phases };
        var w = Prepare(name, quick, data, repo, batch, trace);
        using (w.Owner)
        {
            var times = new List<double>();
            var cpuTimes = new List<double>(); // process CPU time: less sensitive than wall time to other jobs' load
            var self = Process.GetCurrentProcess();
            for (int i = 0; i < warmup + reps; i++)
            {
                self.Refresh();
                var cpu0 = self.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                w.Step();
                double ms = sw.Elapsed.TotalMilliseconds;
                self.Refresh();
                if (i >= warmup) { times.Add(ms); cpuTimes.Add((self.TotalProcessorTime - cpu0).TotalMilliseconds); }
                Console.Error.WriteLine($"bench {name}: {(i < warmup ? "warm-up" : "rep")} {ms:0.0} ms");
            }
            double median = Median(times);
            result["median_ms"] = median;
            result["times_ms"] = new JsonArray(times.Select(t => (JsonNode)t).ToArray());
            result["median_cpu_ms"] = Median(cpuTimes);
            foreach (var (k, v) in w.Info) result[k] = v?.DeepClone();
            result["conv_route"] = BrainMClip.Numerics.ConvPolicy.Route.ToString();
            if (w.Info["per"] is { } per) result["per_item_ms"] = median / per.GetValue<double>();
            if (w.Info["megabytes"] is { } mb) result["mb_per_s"] = mb.GetValue<double>() / (median / 1000);
            if (w.Info["items"] is { } items) result["items_per_s"] = items.GetValue<double>() / (median / 1000);
        }
        long peak = PeakRssMB();
        if (phases)
        {
            // The phase trace resets the high-water mark; the process peak is the largest of the parts.
            result["phases"] = trace.ToJson();
            peak = Math.Max(peak, trace.PeakBeforeFirstResetMB);
            foreach (var (_, v) in trace.ToJson()) peak = Math.Max(peak, v!["peak_rss_mb"]!.GetValue<long>());
        }
        result["peak_rss_mb"] = peak;
        Console.WriteLine(result.ToJsonString());
        return 0;
    }

    static readonly string[] Names =
    [
        "train_step_tiny", "train_step_paper", "predict_b1", "predict_b300", "clip_vit_b16_224", "clip_vit_l14_224",
        "unet_step_vd", "vae_decode_512", "generator_step", "generator_denoise_b2", "npy_read", "nifti_read",
            "blas_check",
        "conv_probe", "conv_tail_layers", "reconstruct_pixel", "reconstruct_vd16", "train_step_paper_gemms",
        "vae_conv_512",
        "reconstruct_vd64", "gemm_rows_probe", "generator_step_demo",
    ];

    static double Median(List<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static long PeakRssMB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
                    CultureInfo.InvariantCulture) / 1024;
        return -1;
    }

    static double MatmulGflops()
    {
        using var noGrad = no_grad();
        var a = randn(512, 2048); var b = randn(2048, 2048);
        for (int i = 0; i < 2; i++) a.mm(b).Dispose();
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            a.mm(b).Dispose();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return 2.0 * 512 * 2048 * 2048 / Median(times) / 1e9;
    }

    static Workload Prepare(string name, bool quick, string data, string repo, int batch, StepPhases trace) =>
        name switch
        {
            "reconstruct_pixel" => ReconstructWorkloads.Pixel(batch),
            "reconstruct_vd16" => ReconstructWorkloads.VdSmall(batch),
            "reconstruct_vd64" => ReconstructWorkloads.VdFull(batch),
            "gemm_rows_probe" => GemmRowsProbe.Create(),
            "train_step_tiny" => TrainStep("tiny", 2000, 800, trace),
            "train_step_paper" => TrainStep("paper", 15724, 4500, trace),
            "train_step_paper_gemms" => GemmWorkloads.PaperStep(trace),
            "vae_conv_512" => ConvWorkloads.VaeConv512(trace),
            "predict_b1" => Predict(1),
            "predict_b300" => Predict(300),
            "clip_vit_b16_224" =>
                Clip(
                new ClipVisionConfig
                {
                    HiddenSize = 768,
                    IntermediateSize = 3072,
                    NumHiddenLayers = 12,
                    NumAttentionHeads = 12,
                    PatchSize = 16,
                    ProjectionDim = 512
                }),
            "clip_vit_l14_224" =>
                Clip(
                new ClipVisionConfig
                {
                    HiddenSize = 1024,
                    IntermediateSize = 4096,
                    NumHiddenLayers = 24,
                    NumAttentionHeads = 16,
                    PatchSize = 14,
                    ProjectionDim = 768
                }),
            "unet_step_vd" => UNetStep(),
            "vae_decode_512" => VaeDecode(),
            "generator_step" => GeneratorStep(),
            "generator_step_demo" => GeneratorStepDemo(trace),
            "generator_denoise_b2" => GeneratorDenoise(),
            "conv_probe" => ConvWorkloads.Probe(),
            "conv_tail_layers" => ConvWorkloads.TailLayers(),
            "npy_read" => FileRead(Path.Combine(data, "bench.npy"), p => Npy.ReadTensor(p).Dispose()),
            "nifti_read" => FileRead(Path.Combine(data, "bench.nii.gz"), p => _ = Nifti.Read(p)),
            _ => throw new ArgumentException($"unknown workload {name}; expected one of {string.Join(", ", Names)}"),
        };

    /// <summary>
    /// One optimiser step exactly as Trainer.Train does it (TrainingLoop.TakeStep: forward, all loss terms read back,
    /// backward in a scope freed before the update, the two gradient clips, AdamW, OneCycle, gradients released), on
    /// synthetic z-scored voxels and CLIP targets; batch 50.
    /// </summary>
    static Workload TrainStep(string preset, int nD, int nS, StepPhases trace)
    {
        var cfg = BrainMClipConfig.Preset(preset);
        var m = cfg.Model;
        const int batch = 50;
        manual_seed(0);
        var fD = randn(batch, nD); var fS = randn(batch, nS);
        var eD = randn(batch, m.Tokens, m.DetailWidth); var eS = randn(batch, m.Tokens, m.SemanticWidth);
        var net = new BrainMClipNet(cfg, nD, nS);
        using (var g = new Generator(0)) net.Initialize(g);
        var gen = new Generator(2);
        net.DropoutGenerator = gen;
        net.train();
        var t = cfg.Training;
        var (decay, noDecay) = Trainer.ParameterGroups(net);
        var opt = new BrainMClip.Optimization.AdamW(
        [
            new TorchSharp.Modules.AdamW.ParamGroup(decay, lr: t.MaxLr, weight_decay: t.WeightDecay),
            new TorchSharp.Modules.AdamW.ParamGroup(noDecay, lr: t.MaxLr, weight_decay: 0.0),
        ], t.MaxLr, t.WeightDecay);
        var sched = optim.lr_scheduler.OneCycleLR(opt, max_lr: t.MaxLr, total_steps: 100000);
        var mainParams = net.named_parameters().Where(p => !p.name.StartsWith("fusion.", StringComparison.Ordinal))
            .Select(p => p.parameter).ToList();
        var fusionParams = net.FusionParameters().ToList();
        void Step()
        {
            trace.Start();
            double sum = 0;
            using (var pass = NewDisposeScope()) // freed before the update, as TrainingLoop.TakeStep does
            {
                var o = net.Forward(fD, fS);
                trace.Mark("forward");
                var loss = Losses.Compute(net, o, fD, fS, eD, eS);
                foreach (var (_, v) in loss.Terms) sum += v.item<float>();
                sum += loss.Total.item<float>();
                trace.Mark("loss");
                net.zero_grad(set_to_none: true);
                (loss.Fusion is null ? loss.Total : loss.Total + loss.Fusion).backward();
                trace.Mark("backward");
            }
            using var scope = NewDisposeScope();
            nn.utils.clip_grad_norm_(mainParams, t.GradClip);
            if (fusionParams.Count > 0) nn.utils.clip_grad_norm_(fusionParams, t.GradClip);
            trace.Mark("clip");
            opt.step();
            sched.step();
            net.zero_grad(set_to_none: true);
            trace.Mark("optimizer");
            if (!double.IsFinite(sum)) throw new InvalidOperationException("loss diverged");
        }
        long parameters = net.parameters().Sum(p => p.numel());
        return new Workload(Step, new Owners(net, opt, gen),
            new JsonObject
            { ["parameters"] = parameters, ["batch"] = batch, ["voxels"] = $"{nD}/{nS}", ["preset"] = preset });
    }

    /// <summary>Prediction as Predictor.Predict does it (eval, no_grad, both encoders, fusion map, fused renorm), paper
    /// preset.</summary>
    static Workload Predict(int batch)
    {
        var cfg = BrainMClipConfig.Preset("paper");
        manual_seed(0);
        var net = new BrainMClipNet(cfg, 15724, 4500);
        using (var g = new Generator(0)) net.Initialize(g);
        net.eval();
        var fD = randn(batch, 15724); var fS = randn(batch, 4500);
        void Step()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var o = net.Forward(fD, fS);
            var fused = Conditioning.Fuse(o.Semantic!, net.Project(o.Detail!), cfg.Fusion.Lambda);
            _ = fused.sum().item<float>();
        }
        return new Workload(Step, net,
            new JsonObject
            { ["batch"] = batch, ["per"] = (double)batch, ["voxels"] = "15724/4500", ["preset"] = "paper" });
    }

    /// <summary>Feature extraction as `features` runs it: all tokens, detail-layer mean and VD tokens; batch 8 of 224²
    /// images.</summary>
    static Workload Clip(ClipVisionConfig c)
    {
        const int batch = 8;
        manual_seed(0);
        var model = new ClipVisionModel(c);
        model.eval();
        var x = randn(batch, 3, 224, 224);
        var opts = new ClipRunOptions { DetailLayers = c.DefaultDetailLayers };
        void Step()
        {
            using var o = model.Run(x, opts);
            _ = o.VdTokens.sum().item<float>();
        }
        return new Workload(Step, model,
            new JsonObject
            { ["batch"] = batch, ["items"] = (double)batch, ["per"] = (double)batch, ["tokens"] = c.NumTokens });
    }

    /// <summary>One VD-UNet denoising step: latents 1×4×64×64 doubled for classifier-free guidance (batch 2), 257×768
    /// context.</summary>
    static Workload UNetStep()
    {
        var cfg = UNetBenchmark.VersatileDiffusionImageUnet;
        manual_seed(0);
        var unet = new UNet2DConditionModel(cfg);
        unet.eval();
        return UNetForward(unet, randn(2, 4, 64, 64), randn(2, 257, 768),
            new JsonObject
            {
                ["batch"] = 2,
                ["cfg"] = "batch 2 (uncond+cond)",
                ["parameters"] = unet.parameters()
                .Sum(p => p.numel())
            });
    }

    /// <summary>One no-grad UNet forward at timestep 500 for every sample of <paramref name="x"/>.</summary>
    static Workload UNetForward(UNet2DConditionModel unet, Tensor x, Tensor ctx, JsonObject info)
    {
        var ts = full(x.shape[0], 500L, dtype: ScalarType.Int64);
        void Step()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            _ = unet.Forward(x, ts, ctx).sum().item<float>();
        }
        return new Workload(Step, unet, info);
    }

    /// <summary>
    /// One step of `generator train` as PixelGeneratorTrainer does it: the demo's pixel UNet layout until session 7
    /// (32×32, channels 32/64/64, attention at 16×16 and 8×8), batch 16, 65×64 context; noising, forward, MSE,
    /// backward, clip, AdamW, EMA. Kept as it was so results stay comparable (docs/performance.md).
    /// </summary>
    static Workload GeneratorStep()
    {
        const int batch = 16;
        manual_seed(0);
        var cfg = PixelGeneratorTrainer.SmallConfig(32, 64);
        var unet = new UNet2DConditionModel(cfg);
        var ema = new UNet2DConditionModel(cfg);
        unet.train();
        var x0 = rand(batch, 3, 32, 32) * 2 - 1; var ctx = randn(batch, 65, 64);
        var alphas = tensor(SchedulerConfig.StableDiffusion.AlphasCumprod());
        var ps = unet.parameters().ToList(); var es = ema.parameters().ToList();
        var opt = optim.AdamW(ps, lr: 1e-4, weight_decay: 0.01);
        var gen = new Generator(1);
        void Step()
        {
            using var scope = NewDisposeScope();
            var t = randint(0, 1000, [batch], dtype: ScalarType.Int64, generator: gen);
            var noise = randn(x0.shape, generator: gen);
            var a = alphas.index_select(0, t).view(batch, 1, 1, 1);
            var loss = nn.functional.mse_loss(unet.Forward(a.sqrt() * x0 + (1 - a).sqrt() * noise, t, ctx), noise);
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(ps, 1.0);
            opt.step();
            using (no_grad()) for (int i = 0; i < ps.Count; i++) es[i].mul_(0.99).add_(ps[i], alpha: 0.01);
            if (!float.IsFinite(loss.item<float>())) throw new InvalidOperationException("loss diverged");
        }
        return new Workload(Step, new Owners(unet, ema, opt, gen),
            new JsonObject
            {
                ["batch"] = batch,
                ["parameters"] = ps.Sum(p => p.numel()),
                ["image"] = "3x32x32",
                ["context"] = "65x64"
            });
    }

    /// <summary>
    /// One step of the demo's `generator train` (DemoPipeline.GeneratorCommandLine: 32 px, channels 32/64/64,
    /// attention at 8×8 only, batch 8, x0 ("sample") objective, pixel-shuffle context map ×4 on 65×192 tokens,
    /// AdamW, clipping, EMA) with PixelGeneratorTrainer's own step; phases: batch, forward+loss, backward, clip,
    /// AdamW, EMA (with --phases). Run it with --threads 1, as the demo does.
    /// </summary>
    static Workload GeneratorStepDemo(StepPhases trace)
    {
        manual_seed(0);
        var images = rand(4000, 3, 32, 32) * 2 - 1;
        var context = randn(4000, 65, 192);
        var o = new PixelGeneratorOptions
        {
            ImagesPath = "-", FeaturesPath = "-", OutDir = "-", Steps = 2000, BatchSize = 8, LearningRate = 3e-3,
            AttentionResolution = 8, Prediction = "sample", ContextMap = true, ContextMapShuffle = 4,
        };
        var cfg = PixelGeneratorTrainer.SmallConfig(32, 192, null, 8, contextMap: true, contextMapShuffle: 4);
        var unet = new UNet2DConditionModel(cfg);
        var ema = new UNet2DConditionModel(cfg);
        unet.train();
        var sched = SchedulerConfig.StableDiffusion with { PredictionType = o.Prediction, SetAlphaToOne = true };
        var alphas = tensor(sched.AlphasCumprod());
        var ps = unet.parameters().ToList(); var es = ema.parameters().ToList();
        var opt = optim.AdamW(ps, lr: o.LearningRate, weight_decay: 0.01);
        var gen = new Generator(17);
        void Step()
        {
            trace.Start();
            using var scope = NewDisposeScope();
            var loss = PixelGeneratorTrainer.DenoisingLoss(unet, images, context, alphas, sched.NumTrainTimesteps, o,
                gen, mark: trace.Mark);
            opt.zero_grad();
            loss.backward();
            trace.Mark("backward");
            nn.utils.clip_grad_norm_(ps, 1.0);
            trace.Mark("clip");
            opt.step();
            trace.Mark("adamw");
            using (no_grad()) for (int i = 0; i < ps.Count; i++) es[i].mul_(0.999).add_(ps[i], alpha: 0.001);
            if (!float.IsFinite(loss.item<float>())) throw new InvalidOperationException("loss diverged");
            trace.Mark("ema");
        }
        return new Workload(Step, new Owners(unet, ema, opt, gen),
            new JsonObject
            {
                ["batch"] = o.BatchSize,
                ["parameters"] = ps.Sum(p => p.numel()),
                ["image"] = "3x32x32",
                ["context"] = "65x192",
            });
    }

    /// <summary>One denoising forward of `reconstruct` with the demo's pixel UNet: batch 2 ([uncond; cond]),
    /// no_grad.</summary>
    static Workload GeneratorDenoise()
    {
        manual_seed(0);
        var unet = new UNet2DConditionModel(PixelGeneratorTrainer.SmallConfig(32, 64));
        unet.eval();
        return UNetForward(unet, randn(2, 3, 32, 32), randn(2, 65, 64),
            new JsonObject { ["batch"] = 2, ["image"] = "3x32x32", ["context"] = "65x64" });
    }

    /// <summary>SD/VD AutoencoderKL decode of 1×4×64×64 latents to a 512×512 image (random weights).</summary>
    static Workload VaeDecode()
    {
        var cfg = new AutoencoderKLConfig
        { BlockOutChannels = [128, 256, 512, 512], LayersPerBlock = 2, NormNumGroups = 32, LatentChannels = 4 };
        manual_seed(0);
        var vae = new AutoencoderKL(cfg, decoderOnly: true); // as reconstruct loads it (GeneratorFolder)
        using (no_grad())
            foreach (var (n, p) in vae.named_parameters())
                if (n.Contains("norm", StringComparison.Ordinal))
                { if (n.EndsWith("weight", StringComparison.Ordinal)) p.fill_(1); else p.zero_(); }
        vae.eval();
        var z = randn(1, 4, 64, 64);
        void Step()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            _ = vae.Decode(z).sum().item<float>();
        }
        return new Workload(Step, vae, new JsonObject { ["batch"] = 1, ["output"] = "1x3x512x512" });
    }

    /// <summary>Whole-file read into a typed array (float32 for .npy, float64 values for NIfTI, as the readers
    /// return).</summary>
    static Workload FileRead(string path, Action<string> read)
    {
        if (!File.Exists(path)) throw new FileNotFoundException(
            $"{path}: generate it with bench/run (bench/pytorch/bench.py make-data)");
        double mb = new FileInfo(path).Length / 1e6;
        if (path.EndsWith(".gz", StringComparison.Ordinal))
        {
            // MB/s on the uncompressed bytes (the gzip ISIZE trailer), so it is comparable with the .npy figure.
            using var fs = File.OpenRead(path);
            fs.Seek(-4, SeekOrigin.End);
            var b = new byte[4];
            fs.ReadExactly(b);
            mb = BitConverter.ToUInt32(b) / 1e6;
        }
        return new Workload(() => read(path), null,
            new JsonObject { ["megabytes"] = mb, ["file"] = Path.GetFileName(path) });
    }

    sealed class Owners(params IDisposable[] items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }
}
