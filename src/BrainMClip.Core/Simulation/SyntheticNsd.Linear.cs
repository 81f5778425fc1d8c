using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.IO;
using static TorchSharp.torch;

namespace BrainMClip.Simulation;

/// <summary>
/// The linear world of `synth --world linear` (docs/data.md): scenes are a coloured background with a low-frequency
/// texture plus 1–3 objects of K geometric categories; voxels are a linear function of pooled contrast/colour maps and
/// category counts, with independent Gaussian noise.
/// </summary>
public static partial class SyntheticNsd
{
    public static readonly string[] CategoryNames = ["disc", "square", "triangle", "cross", "ring", "star", "bar",
        "grid"];

    /// <summary>Which floc ROI prefers which categories (by index into <see cref="CategoryNames"/>).</summary>
    public static readonly IReadOnlyDictionary<string, int[]> FlocPreference = new Dictionary<string, int[]>
    {
        ["floc-faces"] = [0, 4],   // disc, ring
        ["floc-bodies"] = [3, 6],  // cross, bar
        ["floc-places"] = [7, 1],  // grid, square
        ["floc-words"] = [2, 5],   // triangle, star
    };


    public sealed record SceneObject(int Category, double X, double Y, double Size, double Rotation, double[] Color);
    public sealed record Scene(double[] Background, double[][] Waves, SceneObject[] Objects);

    /// <summary>Draws and renders the linear world's scenes (one seed per image from <paramref name="rng"/>, in
    /// order) and pools their contrast/colour features on a G×G grid.</summary>
    static (Scene[] Scenes, byte[] Pixels, float[] Feats, int G) RenderLinearScenes(Random rng, int n, int S, int K,
        TextWriter? progress)
    {
        var seeds = Enumerable.Range(0, n).Select(_ => rng.Next()).ToArray();
        var scenes = new Scene[n];
        var pixels = new byte[(long)n * S * S * 3];
        int G = Math.Min(S, 32);
        var feats = new float[(long)n * 4 * G * G];
        using (var bar = new ProgressBar("synth: images", n, "img", progress ?? Console.Error))
        {
            var img = new double[S * S * 3];
            for (int i = 0; i < n; i++)
            {
                var r = new Random(seeds[i]);
                scenes[i] = RandomScene(r, K);
                Render(scenes[i], S, img);
                for (int j = 0; j < img.Length; j++) pixels[(long)i * img.Length
                    + j] = (byte)Math.Round(Math.Clamp(img[j], 0, 1) * 255);
                Features(img, S, G, feats.AsSpan(checked((int)((long)i * 4 * G * G)), 4 * G * G));
                bar.Advance();
            }
        }
        return (scenes, pixels, feats, G);
    }

    static SynthResult GenerateLinear(SynthOptions o, TextWriter? progress)
    {
        var rng = new Random(o.Seed);
        int n = o.Train + o.Test, S = o.ImageSize, K = o.LinearCategories;

        // 1. Scenes and images.
        var (scenes, pixels, feats, G) = RenderLinearScenes(rng, n, S, K, progress);

        // 2. ROI volumes and voxel models.
        var rois = MakeRois(o.Grid);
        var general = rois[NsdRois.NsdGeneral];
        var idx = Enumerable.Range(0, general.Length).Where(i => general[i] > 0).ToArray();
        int nd = idx.Length;
        var voxels = MakeVoxels(rng, o.Grid, idx, rois, K);

        // 3. Responses: low-level part = features · RF weights; category part = presence · tuning.
        var presence = new float[n * K];
        for (int i = 0; i < n; i++)
            foreach (var ob in scenes[i].Objects) presence[i * K + ob.Category] += 1f;
        var signal = Responses(feats, presence, voxels, n, G, K);

        // 4. Noise at the SNR per repetition, averaged over repetitions; then a per-voxel gain and baseline like betas.
        double noiseSd = 1.0 / Math.Sqrt(o.EffectiveSnr);
        var fmri = new double[(long)n * nd];
        var gain = voxels.Select(_ => 0.5 + 1.5 * rng.NextDouble()).ToArray();
        var baseline = voxels.Select(_ => 0.5 * Gauss(rng)).ToArray();
        for (long i = 0; i < n; i++)
            for (int v = 0; v < nd; v++)
            {
                double noise = 0;
                for (int rep = 0; rep < o.Repetitions; rep++) noise += noiseSd * Gauss(rng);
                fmri[i * nd + v] = baseline[v] + gain[v] * (signal[i * nd + v] + noise / o.Repetitions);
            }

        // 5. Write the layout.
        WriteLayout(o, fmri, nd, pixels, rois);
        string root = o.OutDir;
        int subj = o.Subject;

        // 6. Ground truth.
        string gtDir = Path.Combine(root, "ground_truth");
        string sub = $"subj{subj:00}";
        var gtFiles = new Dictionary<string, string>();
        foreach (var (split, start, count) in new[] { ("train", 0, o.Train), ("test", o.Train, o.Test) })
        {
            var lab = new byte[count * K];
            for (int i = 0; i < count * K; i++) lab[i] = (byte)presence[start * K + i];
            string lp = Path.Combine(gtDir, $"{sub}_{split}_labels.npy");
            Npy.WriteUInt8(lp, [count, K], lab);
            gtFiles[$"{split}_labels"] = Path.GetFileName(lp);
            var sig = new float[count * nd];
            for (int j = 0; j < sig.Length; j++) sig[j] = (float)signal[(long)start * nd + j];
            string sp = Path.Combine(gtDir, $"{sub}_{split}_signal.npy");
            Npy.WriteFloat32(sp, [count, nd], sig);
            gtFiles[$"{split}_signal"] = Path.GetFileName(sp);
        }
        var rf = voxels.SelectMany(v => new[] { (float)v.Cx, (float)v.Cy, (float)v.Sigma }).ToArray();
        Npy.WriteFloat32(Path.Combine(gtDir, $"{sub}_voxel_rf.npy"), [nd, 3], rf);
        gtFiles["voxel_rf"] = $"{sub}_voxel_rf.npy";
        Npy.WriteUInt8(Path.Combine(gtDir, $"{sub}_voxel_kind.npy"), [nd], voxels.Select(v => (byte)v.Kind).ToArray());
        gtFiles["voxel_kind"] = $"{sub}_voxel_kind.npy";
        Npy.WriteFloat32(Path.Combine(gtDir, $"{sub}_voxel_tuning.npy"), [nd, K],
            voxels.SelectMany(v => v.Tuning.Select(t => (float)t)).ToArray());
        gtFiles["voxel_tuning"] = $"{sub}_voxel_tuning.npy";

        int nSem = idx.Count(i => NsdRois.FlocMasks.Any(m => rois[m][i] > 0));
        int nLow = idx.Count(i => rois[NsdRois.PrfVisualRois][i] > 0);
        string gtJson = Path.Combine(gtDir, $"{sub}.json");
        AtomicFile.WriteAllText(gtJson, GroundTruthJson(o, scenes, voxels, gtFiles, nd, nSem, nLow)
            .ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return new SynthResult(root, subj, o.Train, o.Test, S, nd, nSem, nLow, gtJson);
    }


    static double Gauss(Random r)
    {
        double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    static Scene RandomScene(Random r, int K)
    {
        var bg = new[] { 0.15 + 0.7 * r.NextDouble(), 0.15 + 0.7 * r.NextDouble(), 0.15 + 0.7 * r.NextDouble() };
        // Low-frequency texture: two plane waves (frequency in cycles per image, orientation, phase, amplitude).
        var waves = Enumerable.Range(0, 2).Select(_ => new[]
        {
            0.5 + 1.5 * r.NextDouble(), Math.PI * r.NextDouble(), 2 * Math.PI * r.NextDouble(), 0.04
                + 0.06 * r.NextDouble(),
        }).ToArray();
        int count = 1 + r.Next(3);
        var objs = new SceneObject[count];
        for (int j = 0; j < count; j++)
        {
            int cat = r.Next(K);
            double size = 0.1 + 0.15 * r.NextDouble();
            double x = 0.12 + 0.76 * r.NextDouble(), y = 0.12 + 0.76 * r.NextDouble();
            double rot = 2 * Math.PI * r.NextDouble();
            double[] col;
            // Keep objects visible: at least 0.35 away from the background in some channel.
            int tries = 0;
            do col = [r.NextDouble(), r.NextDouble(), r.NextDouble()];
            while (tries++ < 20 && Enumerable.Range(0, 3).Max(c => Math.Abs(col[c] - bg[c])) < 0.35);
            objs[j] = new SceneObject(cat, x, y, size, rot, col);
        }
        return new Scene(bg, waves, objs);
    }

    /// <summary>Inside test of a category's shape in object coordinates (u, v) scaled so the shape fits the unit
    /// disc.</summary>
    static bool Inside(int cat, double u, double v)
    {
        double au = Math.Abs(u), av = Math.Abs(v), rr = Math.Sqrt(u * u + v * v);
        switch (cat)
        {
            case 0: return rr <= 1; // disc
            case 1: return au <= 0.75 && av <= 0.75; // square
            case 2: // equilateral triangle with vertices on the unit circle
                return v >= -0.5 && Math.Sqrt(3) * au <= 1 - v;
            case 3: return (au <= 0.28 && av <= 1) || (av <= 0.28 && au <= 1); // cross
            case 4: return rr <= 1 && rr >= 0.6; // ring
            case 5: // five-pointed star
            {
                double phi = Math.Atan2(v, u);
                double lim = 0.42 + 0.58 * Math.Pow((Math.Cos(5 * phi) + 1) / 2, 2);
                return rr <= lim;
            }
            case 6: return au <= 1 && av <= 0.22; // bar
            case 7: // grid: a square lattice of lines
            {
                if (au > 0.9 || av > 0.9) return false;
                double gu = (u + 0.9) / 0.45, gv = (v + 0.9) / 0.45;
                return gu - Math.Floor(gu) < 0.3 || gv - Math.Floor(gv) < 0.3;
            }
            default: throw new ArgumentOutOfRangeException(nameof(cat));
        }
    }

    /// <summary>Renders a scene into <paramref name="img"/> (S·S·3, HWC, values 0..1) with 2×2 supersampling.</summary>
    static void Render(Scene sc, int S, double[] img)
    {
        var rgb = new double[3];
        // Per-scene constants hoisted out of the pixel loop.
        var wave = sc.Waves.Select(w =>
            (kx: 2 * Math.PI * w[0] * Math.Cos(w[1]), ky: 2 * Math.PI * w[0] * Math.Sin(w[1]), ph: w[2], amp: w[3]))
            .ToArray();
        var obj = sc.Objects.Select(o => (o, cr: Math.Cos(o.Rotation), sr: Math.Sin(o.Rotation))).ToArray();
        for (int py = 0; py < S; py++)
            for (int px = 0; px < S; px++)
            {
                double r0 = 0, g0 = 0, b0 = 0;
                for (int sy = 0; sy < 2; sy++)
                    for (int sx = 0; sx < 2; sx++)
                    {
                        double x = (px + 0.25 + 0.5 * sx) / S, y = (py + 0.25 + 0.5 * sy) / S;
                        double tex = 0;
                        foreach (var w in wave) tex += w.amp * Math.Sin(w.kx * x + w.ky * y + w.ph);
                        for (int c = 0; c < 3; c++) rgb[c] = sc.Background[c] + tex;
                        foreach (var (ob, cr, sr) in obj)
                        {
                            double dx = x - ob.X, dy = y - ob.Y;
                            if (Math.Abs(dx) > 1.5 * ob.Size || Math.Abs(dy) > 1.5 * ob.Size) continue;
                            double u = (cr * dx + sr * dy) / ob.Size, v = (-sr * dx + cr * dy) / ob.Size;
                            if (Math.Abs(u) <= 1.01 && Math.Abs(v) <= 1.01 && Inside(ob.Category, u, v))
                                for (int c = 0; c < 3; c++) rgb[c] = ob.Color[c];
                        }
                        r0 += rgb[0]; g0 += rgb[1]; b0 += rgb[2];
                    }
                int o = (py * S + px) * 3;
                img[o] = r0 / 4; img[o + 1] = g0 / 4; img[o + 2] = b0 / 4;
            }
    }

    /// <summary>
    /// Low-level feature maps average-pooled to G×G: contrast energy (luminance gradient magnitude), red–green,
    /// blue–yellow and luminance. Layout: [feature][gy][gx].
    /// </summary>
    static void Features(double[] img, int S, int G, Span<float> dst)
    {
        var lum = new double[S * S];
        for (int i = 0; i < S * S; i++) lum[i] = 0.299 * img[3 * i] + 0.587 * img[3 * i + 1] + 0.114 * img[3 * i + 2];
        var acc = new double[4 * G * G];
        var cnt = new int[G * G];
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
            {
                int xl = Math.Max(0, x - 1), xr = Math.Min(S - 1, x + 1), yu = Math.Max(0, y - 1),
                    yd = Math.Min(S - 1, y + 1);
                double gx = (lum[y * S + xr] - lum[y * S + xl]) / (xr - xl);
                double gy = (lum[yd * S + x] - lum[yu * S + x]) / (yd - yu);
                int i = y * S + x, cell = (y * G / S) * G + x * G / S;
                double r = img[3 * i], g = img[3 * i + 1], b = img[3 * i + 2];
                acc[cell] += Math.Sqrt(gx * gx + gy * gy);
                acc[G * G + cell] += r - g;
                acc[2 * G * G + cell] += b - (r + g) / 2;
                acc[3 * G * G + cell] += lum[i];
                cnt[cell]++;
            }
        for (int f = 0; f < 4; f++)
            for (int c = 0; c < G * G; c++) dst[f * G * G + c] = (float)(acc[f * G * G + c] / cnt[c]);
    }

    sealed record Voxel(VoxelKind Kind, string Roi, double Cx, double Cy, double Sigma, double[] FeatureWeights,
        double[] Tuning, double LowWeight, double CatWeight);

    static Voxel[] MakeVoxels(Random rng, int[] grid, int[] idx, Dictionary<string, double[]> rois, int K)
    {
        int nx = grid[0], ny = grid[1], nz = grid[2];
        var prf = rois[NsdRois.PrfVisualRois];
        var res = new Voxel[idx.Length];
        for (int j = 0; j < idx.Length; j++)
        {
            int i = idx[j], x = i / (ny * nz);
            string? floc = NsdRois.FlocMasks.FirstOrDefault(m => rois[m][i] > 0);
            // Feature weights: contrast energy (always driving), red–green, blue–yellow, luminance (signed
            // preferences).
            double[] Weights() => [0.6 + 0.4 * rng.NextDouble(), 0.5 * Gauss(rng), 0.5 * Gauss(rng), 0.3 * Gauss(rng)];
            if (prf[i] > 0)
            {
                int label = (int)prf[i];
                string name = NsdRois.Labels[NsdRois.PrfVisualRois][label - 1];
                var (cx, cy, sigma) = RetinotopicRf(rng.NextDouble, label, x < nx / 2);
                var tuning = Enumerable.Range(0, K).Select(_ => 0.1 * Gauss(rng)).ToArray();
                res[j] = new Voxel(VoxelKind.Prf, name, cx, cy, sigma, Weights(), tuning, 1.0, 0.1);
            }
            else if (floc != null)
            {
                int label = (int)rois[floc][i];
                string name = NsdRois.Labels[floc][label - 1];
                var pref = FlocPreference[floc].Where(k => k < K).ToHashSet();
                var tuning = Enumerable.Range(0, K)
                    .Select(k => pref.Contains(k) ? 0.8 + 0.7 * rng.NextDouble() : 0.25 * Gauss(rng)).ToArray();
                // A broad, roughly foveal receptive field gives category voxels a little low-level drive too.
                res[j] = new Voxel(VoxelKind.Floc, name, 0.5 + 0.1 * Gauss(rng), 0.5 + 0.1 * Gauss(rng), 0.3
                    + 0.1 * rng.NextDouble(),
                    Weights(), tuning, 0.2, 1.0);
            }
            else
            {
                double alpha = 0.3 + 0.4 * rng.NextDouble();
                var tuning = Enumerable.Range(0, K).Select(_ => 0.7 * Gauss(rng)).ToArray();
                res[j] = new Voxel(VoxelKind.Mixed, "", 0.15 + 0.7 * rng.NextDouble(), 0.15 + 0.7 * rng.NextDouble(),
                    0.12 + 0.2 * rng.NextDouble(), Weights(), tuning, alpha, 1 - alpha);
            }
        }
        return res;
    }

    /// <summary>(n, N_D) noiseless responses, each voxel standardised to mean 0, variance 1 over all images.</summary>
    static double[] Responses(float[] feats, float[] presence, Voxel[] voxels, int n, int G, int K)
    {
        int nd = voxels.Length, F = 4 * G * G;
        // Receptive-field weights: Gaussian over pooled cells (normalised to sum 1) times per-feature weights.
        var w = new float[(long)nd * F];
        for (int v = 0; v < nd; v++)
        {
            var vx = voxels[v];
            var g = new double[G * G];
            double sum = 0;
            for (int gy = 0; gy < G; gy++)
                for (int gx = 0; gx < G; gx++)
                {
                    double cx = (gx + 0.5) / G, cy = (gy + 0.5) / G;
                    double d2 = (cx - vx.Cx) * (cx - vx.Cx) + (cy - vx.Cy) * (cy - vx.Cy);
                    g[gy * G + gx] = Math.Exp(-d2 / (2 * vx.Sigma * vx.Sigma));
                    sum += g[gy * G + gx];
                }
            for (int f = 0; f < 4; f++)
                for (int c = 0; c < G * G; c++) w[(long)v * F + f * G * G
                    + c] = (float)(vx.FeatureWeights[f] * g[c] / sum);
        }
        double[] low, cat;
        using (NewDisposeScope())
        {
            var ft = tensor(feats, new long[] { n, F });
            // Centre features over images so the colour/luminance offsets do not dominate the contrast terms.
            ft = ft - ft.mean([0], keepdim: true);
            var wt = tensor(w, new long[] { nd, F });
            low = nn.functional.linear(ft.to_type(ScalarType.Float64), wt.to_type(ScalarType.Float64)).data<double>()
                .ToArray();
            var tt = tensor(voxels.SelectMany(v => v.Tuning).ToArray(), new long[] { nd, K });
            cat = nn.functional.linear(tensor(presence, new long[] { n, K }).to_type(ScalarType.Float64),
                tt).data<double>().ToArray();
        }
        Standardise(low, n, nd);
        Standardise(cat, n, nd);
        var s = new double[(long)n * nd];
        for (long i = 0; i < n; i++)
            for (int v = 0; v < nd; v++)
                s[i * nd + v] = voxels[v].LowWeight * low[i * nd + v] + voxels[v].CatWeight * cat[i * nd + v];
        Standardise(s, n, nd);
        return s;
    }


    static JsonObject GroundTruthJson(SynthOptions o, Scene[] scenes, Voxel[] voxels, Dictionary<string, string> files,
        int nd, int nSem, int nLow)
    {
        static JsonArray Arr(IEnumerable<double> xs) =>
            new(xs.Select(x => (JsonNode)JsonValue.Create(Math.Round(x, 5))).ToArray());
        JsonArray SceneList(int start, int count) =>
            new(Enumerable.Range(start, count).Select(i => (JsonNode)new JsonObject
            {
                ["background"] = Arr(scenes[i].Background),
                ["objects"] = new JsonArray(scenes[i].Objects.Select(ob => (JsonNode)new JsonObject
                {
                    ["category"] = ob.Category,
                    ["name"] = CategoryNames[ob.Category],
                    ["x"] = Math.Round(ob.X, 5),
                    ["y"] = Math.Round(ob.Y, 5),
                    ["size"] = Math.Round(ob.Size, 5),
                    ["rotation"] = Math.Round(ob.Rotation, 5),
                    ["color"] = Arr(ob.Color),
                }).ToArray()),
            }).ToArray());
        var json = new JsonObject
        {
            ["generator"] = "brainmclip synth (docs/data.md)",
            ["subject"] = o.Subject,
            ["seed"] = o.Seed,
            ["train"] = o.Train,
            ["test"] = o.Test,
            ["image_size"] = o.ImageSize,
            ["snr_per_repetition"] = o.EffectiveSnr,
            ["repetitions"] = o.Repetitions,
            ["fmri_dtype"] = o.FmriDType,
            ["grid"] = new JsonArray(o.Grid.Select(g => (JsonNode)g).ToArray()),
            ["categories"] = new JsonArray(CategoryNames.Take(o.LinearCategories).Select(c => (JsonNode)c).ToArray()),
            ["floc_preference"] = new JsonObject(FlocPreference.Select(kv => KeyValuePair.Create(kv.Key,
                (JsonNode?)new JsonArray(kv.Value.Where(k => k < o.LinearCategories)
                    .Select(k => (JsonNode)CategoryNames[k]).ToArray())))),
        };
        AddVoxelFields(json, nd, nSem, nLow,
            voxels.Select(v => (v.Kind, v.Roi, v.LowWeight, v.CatWeight)).ToList(), files);
        json["notes"] =
                "labels: (N,K) object count per category; signal: noiseless standardised responses; voxel_rf: (cx, " +
                "cy, sigma) in image fractions (x right, y down); voxel_tuning: (N_D, K) category weights; voxel " +
                "order = nsdgeneral C order.";
        json["scenes"] = new JsonObject { ["train"] = SceneList(0, o.Train), ["test"] = SceneList(o.Train, o.Test) };
        return json;
    }
}
