using System.Text.Json;
using System.Text.Json.Nodes;
using BrainMClip.Data;
using BrainMClip.IO;

namespace BrainMClip.Simulation;

/// <summary>
/// The hierarchical world of `synth --world hierarchical` (issue 14): scenes of face-, body-, place- and word-like
/// objects (<see cref="WorldSampler"/>); retinotopic prf voxels with compressive responses to local contrast/colour
/// energy; position- and size-tolerant, saturating, category-selective floc voxels each tuned along a within-category
/// attribute axis; mixed voxels elsewhere (<see cref="WorldBrain"/>); independent + shared + smooth noise averaged over
/// repetitions, with NSD-style noise ceilings (<see cref="WorldNoise"/>).
/// </summary>
public static partial class SyntheticNsd
{
    /// <summary>
    /// Default SNR of one repetition in the hierarchical world: with 3 repetitions the mean noise ceiling is about
    /// 37.5%, near NSD's nsdgeneral average, and ridge stays well below what it reaches on the noise-free signal.
    /// </summary>
    public const double HierarchicalDefaultSnr = 0.2;

    /// <summary>
    /// synth draws scene (seed, <see cref="SynthSceneIndexBase"/> + i) for image i, so a target encoder trained on
    /// indices below 2^40 (clip-train) never sees a synth image, whatever the two seeds.
    /// </summary>
    public const long SynthSceneIndexBase = 1L << 40;

    /// <summary>
    /// The demo's <see cref="SynthOptions.PrfColour"/>: as much signed colour as edge energy in the low-level drive,
    /// so the brain carries where which colour is (as V1–V4 partly do) and reconstructions can get colours right.
    /// </summary>
    public const double DemoPrfColour = 1.0;

    /// <summary>
    /// Side of the energy grid the prf receptive fields read; the local-contrast ground truth is 8×8.
    /// </summary>
    const int EnergyGrid = 16, ContrastGrid = 8;

    static SynthResult GenerateHierarchical(SynthOptions o, TextWriter? progress)
    {
        var log = progress ?? Console.Error;
        int n = o.Train + o.Test;
        var (scenes, pixels, energy) = RenderWorld(o, log);

        var rois = MakeRois(o.Grid);
        var general = rois[NsdRois.NsdGeneral];
        var idx = Enumerable.Range(0, general.Length).Where(i => general[i] > 0).ToArray();
        int nd = idx.Length;
        var voxels = WorldBrain.MakeVoxels(WorldRng.For(o.Seed, 0, stream: 1), o.Grid, idx, rois, RetinotopicRf);
        var colour = o.PrfColour > 0
            ? new WorldColourTerm(o.PrfColour, LocalColour(pixels, n, o.ImageSize),
                WorldBrain.ColourWeights(WorldRng.For(o.Seed, 0, stream: 3), voxels.Length))
            : null;
        var signal = WorldBrain.Responses(scenes, energy, EnergyGrid, voxels, colour);

        var model = new WorldNoiseModel { Snr = o.EffectiveSnr, Repetitions = o.Repetitions };
        var noiseRng = WorldRng.For(o.Seed, 0, stream: 2);
        WorldNoiseResult noisy;
        using (var bar = new ProgressBar("synth: responses", n, "img", log))
            noisy = WorldNoise.Apply(signal, n, idx, o.Grid, model, noiseRng, () => bar.Advance());
        // A per-voxel gain and baseline, like betas (the noise ceiling does not change).
        var fmri = noisy.Averaged;
        for (int v = 0; v < nd; v++)
        {
            double gain = noiseRng.Uniform(0.5, 2), baseline = 0.5 * noiseRng.Gauss();
            for (long i = 0; i < n; i++) fmri[i * nd + v] = baseline + gain * fmri[i * nd + v];
        }
        WriteLayout(o, fmri, nd, pixels, rois);

        int nSem = idx.Count(i => NsdRois.FlocMasks.Any(m => rois[m][i] > 0));
        int nLow = idx.Count(i => rois[NsdRois.PrfVisualRois][i] > 0);
        string gtJson = WriteWorldGroundTruth(o, scenes, energy, signal, voxels, noisy, model, nSem, nLow);
        return new SynthResult(o.OutDir, o.Subject, o.Train, o.Test, o.ImageSize, nd, nSem, nLow, gtJson);
    }

    /// <summary>Scenes, stimuli (n·S·S·3 bytes) and energy maps (n·3·16·16) of all images, train first.</summary>
    static (WorldScene[] Scenes, byte[] Pixels, float[] Energy) RenderWorld(SynthOptions o, TextWriter log)
    {
        int n = o.Train + o.Test, S = o.ImageSize, px = S * S * 3, ef = WorldEnergy.Channels * EnergyGrid * EnergyGrid;
        var scenes = new WorldScene[n];
        var pixels = new byte[(long)n * px];
        var energy = new float[(long)n * ef];
        using var bar = new ProgressBar("synth: images", n, "img", log);
        for (int i = 0; i < n; i++)
        {
            scenes[i] = WorldSampler.Sample(o.Seed, SynthSceneIndexBase + i);
            var img = pixels.AsSpan(checked((int)((long)i * px)), px);
            WorldRenderer.Render(scenes[i], S, img);
            WorldEnergy.Compute(img, S, EnergyGrid, energy.AsSpan(checked((int)((long)i * ef)), ef));
            bar.Advance();
        }
        return (scenes, pixels, energy);
    }

    /// <summary>Signed mean colour maps (<see cref="WorldEnergy.MeanColour"/>) of all images, (n, 3·G·G).</summary>
    static float[] LocalColour(byte[] pixels, int n, int S)
    {
        int ef = WorldEnergy.Channels * EnergyGrid * EnergyGrid, px = S * S * 3;
        var res = new float[(long)n * ef];
        Parallel.For(0, n, i => WorldEnergy.MeanColour(pixels.AsSpan(checked((int)((long)i * px)), px), S, EnergyGrid,
            res.AsSpan(checked((int)((long)i * ef)), ef)));
        return res;
    }

    /// <summary>Luminance edge energy pooled to 8×8 (the "local contrast" ground truth), (n, 64).</summary>
    static float[] LocalContrast(float[] energy, int n)
    {
        int ef = WorldEnergy.Channels * EnergyGrid * EnergyGrid, f = EnergyGrid / ContrastGrid, C = ContrastGrid;
        var res = new float[n * C * C];
        for (int i = 0; i < n; i++)
            for (int y = 0; y < EnergyGrid; y++)
                for (int x = 0; x < EnergyGrid; x++)
                    res[i * C * C + (y / f) * C + x / f] += energy[(long)i * ef + y * EnergyGrid + x] / (f * f);
        return res;
    }

    static string WriteWorldGroundTruth(SynthOptions o, WorldScene[] scenes, float[] energy, double[] signal,
        WorldVoxel[] voxels, WorldNoiseResult noisy, WorldNoiseModel model, int nSem, int nLow)
    {
        string gtDir = Path.Combine(o.OutDir, "ground_truth");
        string sub = $"subj{o.Subject:00}";
        int n = scenes.Length, nd = voxels.Length, F = WorldScene.Families, cap = WorldScene.CaptionLength;
        var files = new Dictionary<string, string>();
        void Put(string key, string name, Action<string> write)
        {
            string file = $"{sub}_{name}.npy";
            write(Path.Combine(gtDir, file));
            files[key] = file;
        }
        var contrast = LocalContrast(energy, n);
        int cc = ContrastGrid * ContrastGrid;
        foreach (var (split, start, count) in Splits(o))
        {
            var lab = new byte[count * F];
            var caps = new float[count * cap];
            for (int i = 0; i < count; i++)
            {
                var c = scenes[start + i].FamilyCounts();
                for (int f = 0; f < F; f++) lab[i * F + f] = (byte)c[f];
                scenes[start + i].Caption().CopyTo(caps, i * cap);
            }
            Put($"{split}_labels", $"{split}_labels", p => Npy.WriteUInt8(p, [count, F], lab));
            Put($"{split}_captions", $"{split}_captions", p => Npy.WriteFloat32(p, [count, cap], caps));
            Put($"{split}_contrast", $"{split}_contrast",
                p => Npy.WriteFloat32(p, [count, cc], contrast.AsSpan(start * cc, count * cc).ToArray()));
            var sig = new float[count * nd];
            for (int j = 0; j < sig.Length; j++) sig[j] = (float)signal[(long)start * nd + j];
            Put($"{split}_signal", $"{split}_signal", p => Npy.WriteFloat32(p, [count, nd], sig));
        }
        float[] F32(IEnumerable<double> xs) => xs.Select(x => (float)x).ToArray();
        Put("voxel_rf", "voxel_rf", p => Npy.WriteFloat32(p, [nd, 3], F32(voxels.SelectMany(v => new[] { v.Cx, v.Cy,
            v.Sigma }))));
        Put("voxel_kind", "voxel_kind", p => Npy.WriteUInt8(p, [nd], voxels.Select(v => (byte)v.Kind).ToArray()));
        Put("voxel_tuning", "voxel_tuning", p => Npy.WriteFloat32(p, [nd, F], F32(voxels.SelectMany(v =>
            v.FamilyWeights))));
        Put("voxel_attribute_axis", "voxel_attribute_axis",
            p => Npy.WriteFloat32(p, [nd, WorldScene.AttributesPerFamily], F32(voxels.SelectMany(v =>
                v.AttributeAxis))));
        Put("ncsnr", "ncsnr", p => Npy.WriteFloat32(p, [nd], F32(noisy.NcSnr)));
        Put("noise_ceiling", "noise_ceiling", p => Npy.WriteFloat32(p, [nd], F32(noisy.NoiseCeiling)));
        Put("noise_ceiling_true", "noise_ceiling_true", p => Npy.WriteFloat32(p, [nd], F32(noisy.TrueNoiseCeiling)));

        string gtJson = Path.Combine(gtDir, $"{sub}.json");
        var json = WorldGroundTruthJson(o, scenes, voxels, noisy, model, files, nSem, nLow);
        AtomicFile.WriteAllText(gtJson, json.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return gtJson;
    }

    /// <summary>Every scene of a split as JSON (objects with family, attributes, pose, colour).</summary>
    static JsonArray SceneList(WorldScene[] scenes, int start, int count)
    {
        static JsonNode Num(double x) => JsonValue.Create(Math.Round(x, 5));
        static JsonArray Arr(IEnumerable<double> xs) => new(xs.Select(Num).ToArray());
        return new(Enumerable.Range(start, count).Select(i =>
            (JsonNode)new JsonObject
            {
                ["index"] = scenes[i].Index,
                ["objects"] = new JsonArray(scenes[i].Objects.Select(ob => (JsonNode)new JsonObject
                {
                    ["family"] = WorldScene.FamilyNames[(int)ob.Family],
                    ["attributes"] = Arr(ob.Attributes),
                    ["x"] = Num(ob.X),
                    ["y"] = Num(ob.Y),
                    ["scale"] = Num(ob.Scale),
                    ["rotation"] = Num(ob.Rotation),
                    ["color"] = Arr(ob.Color),
                }).ToArray()),
            }).ToArray());
    }

    static JsonObject WorldGroundTruthJson(SynthOptions o, WorldScene[] scenes, WorldVoxel[] voxels,
        WorldNoiseResult noisy, WorldNoiseModel model, Dictionary<string, string> files, int nSem, int nLow)
    {
        static JsonNode Num(double x) => JsonValue.Create(Math.Round(x, 5));
        JsonObject Summary(double[] xs, Func<WorldVoxel, bool> sel) => new()
        {
            ["mean"] = Num(Enumerable.Range(0, voxels.Length).Where(v => sel(voxels[v])).Select(v =>
                xs[v]).DefaultIfEmpty(double.NaN).Average()),
        };
        var json = new JsonObject
        {
            ["generator"] = "brainmclip synth --world hierarchical (issue 14)",
            ["world"] = "hierarchical",
            ["subject"] = o.Subject,
            ["seed"] = o.Seed,
            ["train"] = o.Train,
            ["test"] = o.Test,
            ["scene_index_base"] = SynthSceneIndexBase,
            ["image_size"] = o.ImageSize,
            ["snr_per_repetition"] = model.Snr,
            ["repetitions"] = model.Repetitions,
            ["prf_colour"] = o.PrfColour,
            ["fmri_dtype"] = o.FmriDType,
            ["noise"] = new JsonObject
            {
                ["independent_share"] = model.IndependentShare,
                ["shared_share"] = model.SharedShare,
                ["smooth_share"] = model.SmoothShare,
                ["smooth_fields"] = model.SmoothFields,
                ["smooth_sigma_voxels"] = model.SmoothSigma,
                ["noise_ceiling_percent"] = new JsonObject
                {
                    ["estimated_all"] = Summary(noisy.NoiseCeiling, _ => true),
                    ["true_all"] = Summary(noisy.TrueNoiseCeiling, _ => true),
                },
            },
            ["grid"] = new JsonArray(o.Grid.Select(g => (JsonNode)g).ToArray()),
            ["families"] = new JsonArray(WorldScene.FamilyNames.Select(c => (JsonNode)c).ToArray()),
            ["family_roi"] = new JsonArray(NsdRois.FlocMasks.Select(c => (JsonNode)c).ToArray()),
            ["attribute_names"] = new JsonObject(WorldScene.AttributeNames.Select(kv => KeyValuePair.Create(
                WorldScene.FamilyNames[(int)kv.Key], (JsonNode?)new JsonArray(kv.Value.Select(a =>
                    (JsonNode)a).ToArray())))),
        };
        AddVoxelFields(json, voxels.Length, nSem, nLow,
            voxels.Select(v => (v.Kind, v.Roi, v.LowWeight, v.CatWeight)).ToList(), files);
        json["notes"] = "labels: (N,4) objects per family (face, body, place, word); captions: (N,20) " +
                        "WorldScene.Caption (family multi-hot, per-family mean of 2*attribute-1); contrast: (N,64) " +
                        "luminance edge energy pooled 8x8 (row-major, y down); signal: noise-free standardised " +
                        "responses; voxel_rf: (cx, cy, sigma) in image fractions; voxel_tuning: (N_D,4) drive per " +
                        "family of the category part; ncsnr/noise_ceiling: NSD definitions estimated from the " +
                        "repetitions (percent for their mean); noise_ceiling_true: from the known variances; voxel " +
                        "order = nsdgeneral C order.";
        json["scenes"] = new JsonObject
        { ["train"] = SceneList(scenes, 0, o.Train), ["test"] = SceneList(scenes, o.Train, o.Test) };
        return json;
    }
}
