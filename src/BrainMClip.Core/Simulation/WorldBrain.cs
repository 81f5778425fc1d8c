using BrainMClip.Data;
using static TorchSharp.torch;

namespace BrainMClip.Simulation;

/// <summary>
/// One voxel of the hierarchical brain. Low-level part: a Gaussian receptive field (Cx, Cy, Sigma in image fractions)
/// over the <see cref="WorldEnergy"/> maps with per-channel weights, raised to a compressive Exponent (&lt; 1).
/// Category part: drive per object family (FamilyWeights, preferred family = 1), modulated along a within-category
/// AttributeAxis by AttributeGain, pooled over objects by a soft maximum and divisively normalised.
/// The voxel's signal is LowWeight·low + CatWeight·category (both standardised first).
/// </summary>
public sealed record WorldVoxel(SyntheticNsd.VoxelKind Kind, string Roi, double Cx, double Cy, double Sigma,
    double[] EnergyWeights, double Exponent, int Family, double[] FamilyWeights, double[] AttributeAxis,
    double AttributeGain, double LowWeight, double CatWeight);

/// <summary>
/// The optional signed colour part of the low-level drive: <paramref name="Colour"/> (n, 3·G·G) mean luminance and
/// opponent colour per energy-grid cell; <paramref name="Weights"/> (N_D, 3) signed weights per voxel; its standardised
/// drive is added with <paramref name="Weight"/> to the standardised edge-energy drive.
/// </summary>
public sealed record WorldColourTerm(double Weight, float[] Colour, double[] Weights);

/// <summary>
/// The hierarchical world's brain: how each voxel responds to a scene. It reads only the rendered image (through its
/// energy maps) and the scene's symbolic content, never any network's features.
/// </summary>
public static class WorldBrain
{
    /// <summary>Soft-maximum exponent over objects (p-norm): 1 = sum, ∞ = max.</summary>
    const double PoolExponent = 4;
    /// <summary>Semi-saturation constant and clutter weight of the divisive normalisation.</summary>
    const double SemiSaturation = 0.4, Clutter = 0.15;

    /// <summary>
    /// Voxel models for the nsdgeneral voxels <paramref name="idx"/> (grid indices, C order) given the ROI volumes:
    /// prf-visualrois voxels are retinotopic and low-level only, floc-f voxels prefer family f (the order of
    /// <see cref="NsdRois.FlocMasks"/>) with a weak low-level drive, other voxels mix a random family with a random RF.
    /// </summary>
    public static WorldVoxel[] MakeVoxels(WorldRng rng, int[] grid, int[] idx, IReadOnlyDictionary<string,
        double[]> rois,
        Func<Func<double>, int, bool, (double Cx, double Cy, double Sigma)> retinotopicRf)
    {
        int ny = grid[1], nz = grid[2], nx = grid[0];
        var prf = rois[NsdRois.PrfVisualRois];
        var res = new WorldVoxel[idx.Length];
        for (int j = 0; j < idx.Length; j++)
        {
            int i = idx[j], x = i / (ny * nz);
            int flocIndex = Array.FindIndex(NsdRois.FlocMasks, m => rois[m][i] > 0);
            double[] energy = [rng.Uniform(0.6, 1), rng.Uniform(0, 0.6), rng.Uniform(0, 0.4)];
            double exponent = rng.Uniform(0.3, 0.6);
            var axis = UnitVector(rng, WorldScene.AttributesPerFamily);
            double gain = rng.Uniform(0.4, 0.8);
            if (prf[i] > 0)
            {
                int label = (int)prf[i];
                var (cx, cy, sigma) = retinotopicRf(rng.NextDouble, label, x < nx / 2);
                res[j] = new WorldVoxel(SyntheticNsd.VoxelKind.Prf, NsdRois.Labels[NsdRois.PrfVisualRois][label - 1],
                    cx, cy, sigma, energy, exponent, -1, new double[WorldScene.Families], axis, 0, 1.0, 0.0);
            }
            else if (flocIndex >= 0)
            {
                string mask = NsdRois.FlocMasks[flocIndex];
                string name = NsdRois.Labels[mask][(int)rois[mask][i] - 1];
                // A broad, roughly foveal receptive field gives category voxels a little low-level drive too.
                res[j] = new WorldVoxel(SyntheticNsd.VoxelKind.Floc, name, 0.5 + 0.1 * rng.Gauss(),
                    0.5 + 0.1 * rng.Gauss(),
                    rng.Uniform(0.3, 0.4), energy, exponent, flocIndex, FamilyWeights(rng, flocIndex, 0.2), axis, gain,
                    0.15, 1.0);
            }
            else
            {
                int fam = rng.Next(WorldScene.Families);
                double alpha = rng.Uniform(0.3, 0.7);
                res[j] = new WorldVoxel(SyntheticNsd.VoxelKind.Mixed, "", rng.Uniform(0.15, 0.85), rng.Uniform(0.15,
                    0.85),
                    rng.Uniform(0.12, 0.32), energy, exponent, fam, FamilyWeights(rng, fam, 0.3), axis, gain,
                    alpha, 1 - alpha);
            }
        }
        return res;
    }

    static double[] FamilyWeights(WorldRng rng, int preferred, double maxOther)
    {
        var w = new double[WorldScene.Families];
        for (int f = 0; f < w.Length; f++) w[f] = f == preferred ? 1.0 : rng.Uniform(0, maxOther);
        return w;
    }

    static double[] UnitVector(WorldRng rng, int n)
    {
        var v = new double[n];
        for (int k = 0; k < n; k++) v[k] = rng.Gauss();
        double norm = Math.Sqrt(v.Sum(x => x * x));
        for (int k = 0; k < n; k++) v[k] /= norm;
        return v;
    }

    /// <summary>
    /// Category response of a voxel to a scene: each object drives it by FamilyWeights[family] × a size term
    /// (scale^0.25, size-tolerant) × a broad position term (0.85..1, position-tolerant) × (1 + gain·attribute
    /// projection); objects are pooled by a p-norm soft maximum D and the result D / (σ + D + c·Σ sizes) saturates and
    /// is normalised by the clutter of all objects.
    /// </summary>
    public static double CategoryResponse(WorldScene scene, WorldVoxel v)
    {
        double pooled = 0, clutter = 0;
        foreach (var o in scene.Objects)
        {
            double size = Math.Pow(o.Scale / 0.45, 0.25);
            double dx = o.X - 0.5, dy = o.Y - 0.5;
            double pos = 0.85 + 0.15 * Math.Exp(-(dx * dx + dy * dy) / (2 * 0.3 * 0.3));
            double proj = 0;
            for (int a = 0; a < v.AttributeAxis.Length; a++) proj += v.AttributeAxis[a] * (2 * o.Attributes[a] - 1);
            double mod = Math.Max(0.1, 1 + v.AttributeGain * proj);
            double d = v.FamilyWeights[(int)o.Family] * size * pos * mod;
            pooled += Math.Pow(d, PoolExponent);
            clutter += size;
        }
        double D = Math.Pow(pooled, 1 / PoolExponent);
        return D / (SemiSaturation + D + Clutter * clutter);
    }

    /// <summary>
    /// Noise-free responses (n, N_D) row-major, each voxel standardised over the n images.
    /// <paramref name="energy"/>: (n, 3·G·G) <see cref="WorldEnergy"/> maps.
    /// </summary>
    public static double[] Responses(WorldScene[] scenes, float[] energy, int grid, WorldVoxel[] voxels,
        WorldColourTerm? colour = null)
    {
        int n = scenes.Length, nd = voxels.Length;
        var low = LowLevel(energy, n, grid, voxels);
        if (colour is not null) AddColour(low, colour, n, grid, voxels);
        var cat = new double[(long)n * nd];
        for (int i = 0; i < n; i++)
            for (int v = 0; v < nd; v++)
                if (voxels[v].CatWeight > 0) cat[(long)i * nd + v] = CategoryResponse(scenes[i], voxels[v]);
        SyntheticNsd.Standardise(low, n, nd);
        SyntheticNsd.Standardise(cat, n, nd);
        var s = new double[(long)n * nd];
        for (long i = 0; i < n; i++)
            for (int v = 0; v < nd; v++)
                s[i * nd + v] = voxels[v].LowWeight * low[i * nd + v] + voxels[v].CatWeight * cat[i * nd + v];
        SyntheticNsd.Standardise(s, n, nd);
        return s;
    }

    /// <summary>
    /// Signed colour weights per voxel, (N_D, 3): luminance, R−G, B−Y, each N(0, 1), from their own random stream so
    /// that turning the colour term on leaves every other draw of the world unchanged.
    /// </summary>
    public static double[] ColourWeights(WorldRng rng, int voxels)
    {
        var w = new double[voxels * WorldEnergy.Channels];
        for (int k = 0; k < w.Length; k++) w[k] = rng.Gauss();
        return w;
    }

    /// <summary>
    /// low ← standardise(low) + weight · standardise(Σ_c w_c Σ_cells RF(cell) colour_c(cell)): a linear, signed
    /// read-out of the mean colour under each voxel's receptive field, on top of the compressive edge energy.
    /// </summary>
    static void AddColour(double[] low, WorldColourTerm colour, int n, int G, WorldVoxel[] voxels)
    {
        int nd = voxels.Length;
        var weighted = voxels.Select((v, j) => v with
        {
            EnergyWeights = colour.Weights.AsSpan(j * WorldEnergy.Channels, WorldEnergy.Channels).ToArray(),
            Exponent = 1,
        }).ToArray();
        var drive = SpatialDrive(colour.Colour, n, G, weighted);
        SyntheticNsd.Standardise(low, n, nd);
        SyntheticNsd.Standardise(drive, n, nd);
        for (long k = 0; k < low.LongLength; k++) low[k] += colour.Weight * drive[k];
    }

    /// <summary>Compressive spatial summation: (Σ_cells RF(cell) Σ_c w_c E_c(cell))^exponent per voxel.</summary>
    static double[] LowLevel(float[] energy, int n, int G, WorldVoxel[] voxels)
    {
        var drive = SpatialDrive(energy, n, G, voxels);
        int nd = voxels.Length;
        for (long i = 0; i < n; i++)
            for (int v = 0; v < nd; v++)
                drive[i * nd + v] = Math.Pow(Math.Max(0, drive[i * nd + v]), voxels[v].Exponent);
        return drive;
    }

    /// <summary>Σ_cells RF(cell) Σ_c w_c map_c(cell) per image and voxel, (n, N_D) row-major.</summary>
    static double[] SpatialDrive(float[] maps, int n, int G, WorldVoxel[] voxels)
    {
        int nd = voxels.Length, F = WorldEnergy.Channels * G * G;
        var w = new float[(long)nd * F];
        for (int v = 0; v < nd; v++)
        {
            var vx = voxels[v];
            var g = new double[G * G];
            for (int gy = 0; gy < G; gy++)
                for (int gx = 0; gx < G; gx++)
                {
                    double cx = (gx + 0.5) / G, cy = (gy + 0.5) / G;
                    double d2 = (cx - vx.Cx) * (cx - vx.Cx) + (cy - vx.Cy) * (cy - vx.Cy);
                    g[gy * G + gx] = Math.Exp(-d2 / (2 * vx.Sigma * vx.Sigma));
                }
            double sum = g.Sum();
            for (int c = 0; c < WorldEnergy.Channels; c++)
                for (int k = 0; k < G * G; k++)
                    w[(long)v * F + c * G * G + k] = (float)(vx.EnergyWeights[c] * g[k] / sum);
        }
        double[] drive;
        using (NewDisposeScope())
        {
            var e = tensor(maps, new long[] { n, F });
            var wt = tensor(w, new long[] { nd, F });
            drive = nn.functional.linear(e, wt).to_type(ScalarType.Float64).data<double>().ToArray();
        }
        return drive;
    }
}
