namespace BrainMClip.Simulation;

/// <summary>
/// Measurement noise of the hierarchical world. Each repetition adds, per image and voxel, noise of variance 1/Snr
/// (the signal has variance 1) split into an independent part, a global part shared by all voxels (with a per-voxel
/// loading) and a spatially smooth part (a random combination of <see cref="SmoothFields"/> Gaussian-smoothed
/// random fields on the voxel grid). <see cref="Repetitions"/> are averaged, like NSD's three presentations.
/// </summary>
public sealed record WorldNoiseModel
{
    public required double Snr { get; init; }
    public required int Repetitions { get; init; }
    public double IndependentShare { get; init; } = 0.5;
    public double SharedShare { get; init; } = 0.15;
    public double SmoothShare { get; init; } = 0.35;
    public int SmoothFields { get; init; } = 48;
    /// <summary>Gaussian smoothing of the spatial fields, in voxels.</summary>
    public double SmoothSigma { get; init; } = 1.5;
}

/// <summary>Noisy, repetition-averaged responses plus NSD-style noise ceilings (per voxel).</summary>
/// <param name="Averaged">(n, N_D) signal + mean noise over repetitions.</param>
/// <param name="NcSnr">NSD's ncsnr: sd of the signal / sd of the noise, estimated from the repetitions.</param>
/// <param name="NoiseCeiling">NSD's noise ceiling in percent for the average of the repetitions:
/// 100·ncsnr² / (ncsnr² + 1/repetitions).</param>
/// <param name="TrueNoiseCeiling">The same from the known signal and noise variances.</param>
public sealed record WorldNoiseResult(double[] Averaged, double[] NcSnr, double[] NoiseCeiling,
    double[] TrueNoiseCeiling);

/// <summary>Draws <see cref="WorldNoiseModel"/> noise and estimates the noise ceiling the way NSD does.</summary>
public static class WorldNoise
{
    /// <param name="signal">(n, N_D) noise-free responses, each voxel standardised.</param>
    /// <param name="voxelIndex">grid index (C order over <paramref name="grid"/>) of each voxel.</param>
    public static WorldNoiseResult Apply(double[] signal, int n, int[] voxelIndex, int[] grid, WorldNoiseModel m,
        WorldRng rng, Action? advance = null)
    {
        int nd = voxelIndex.Length, R = m.Repetitions, M = m.SmoothFields;
        var fields = SmoothFields(rng, grid, voxelIndex, M, m.SmoothSigma);
        var loading = new double[nd];
        for (int v = 0; v < nd; v++) loading[v] = rng.Uniform(0.5, 1.5);
        double rms = Math.Sqrt(loading.Average(b => b * b));
        for (int v = 0; v < nd; v++) loading[v] /= rms;
        double sd = 1 / Math.Sqrt(m.Snr);
        double cInd = sd * Math.Sqrt(m.IndependentShare), cGlob = sd * Math.Sqrt(m.SharedShare);
        double cSmooth = sd * Math.Sqrt(m.SmoothShare / M);

        var avg = new double[(long)n * nd];
        var sum = new double[nd];
        var sumSq = new double[nd];
        var within = new double[nd];
        var trial = new double[R * nd];
        var z = new double[M];
        for (int i = 0; i < n; i++)
        {
            for (int r = 0; r < R; r++)
            {
                var x = trial.AsSpan(r * nd, nd);
                double g = rng.Gauss();
                for (int k = 0; k < M; k++) z[k] = cSmooth * rng.Gauss();
                for (int v = 0; v < nd; v++)
                    x[v] = signal[(long)i * nd + v] + cInd * rng.Gauss() + cGlob * loading[v] * g;
                for (int k = 0; k < M; k++)
                {
                    var f = fields.AsSpan(k * nd, nd);
                    double zk = z[k];
                    for (int v = 0; v < nd; v++) x[v] += zk * f[v];
                }
            }
            for (int v = 0; v < nd; v++)
            {
                double mean = 0;
                for (int r = 0; r < R; r++) mean += trial[r * nd + v];
                mean /= R;
                double ss = 0;
                for (int r = 0; r < R; r++)
                {
                    double t = trial[r * nd + v];
                    ss += (t - mean) * (t - mean);
                    sum[v] += t;
                    sumSq[v] += t * t;
                }
                within[v] += ss / (R - 1);
                avg[(long)i * nd + v] = mean;
            }
            advance?.Invoke();
        }
        var ncsnr = new double[nd];
        var nc = new double[nd];
        var ncTrue = new double[nd];
        long N = (long)n * R;
        for (int v = 0; v < nd; v++)
        {
            // NSD: z-score the single trials, noise variance = mean within-image variance, signal = the rest.
            double total = sumSq[v] / N - (sum[v] / N) * (sum[v] / N);
            double noise = within[v] / n / total, sig = Math.Max(0, 1 - noise);
            ncsnr[v] = Math.Sqrt(sig / noise);
            nc[v] = 100 * ncsnr[v] * ncsnr[v] / (ncsnr[v] * ncsnr[v] + 1.0 / R);
            double noiseVar = sd * sd * (m.IndependentShare + m.SharedShare * loading[v] * loading[v] + m.SmoothShare);
            ncTrue[v] = 100 / (1 + noiseVar / R);
        }
        return new WorldNoiseResult(avg, ncsnr, nc, ncTrue);
    }

    /// <summary>
    /// M Gaussian-smoothed white-noise fields on the grid, read at the voxels and scaled so each voxel's mean square
    /// over the fields is 1 (so a unit-normal combination / √M has unit variance everywhere). Layout [field][voxel].
    /// </summary>
    static double[] SmoothFields(WorldRng rng, int[] grid, int[] voxelIndex, int M, double sigma)
    {
        int nx = grid[0], ny = grid[1], nz = grid[2], nv = nx * ny * nz, nd = voxelIndex.Length;
        int rad = Math.Max(1, (int)Math.Ceiling(3 * sigma));
        var kernel = Enumerable.Range(-rad, 2 * rad + 1).Select(d => Math.Exp(-d * d / (2 * sigma * sigma))).ToArray();
        var res = new double[M * nd];
        var a = new double[nv];
        var b = new double[nv];
        for (int k = 0; k < M; k++)
        {
            for (int i = 0; i < nv; i++) a[i] = rng.Gauss();
            // Separable blur along z (stride 1), y (stride nz), x (stride ny·nz), with zero padding.
            Blur(a, b, kernel, nx * ny, nz, 1, nz);
            Blur(b, a, kernel, nx, ny, nz, ny * nz, nz);
            Blur(a, b, kernel, 1, nx, ny * nz, nv, ny * nz);
            for (int j = 0; j < nd; j++) res[k * nd + j] = b[voxelIndex[j]];
        }
        for (int j = 0; j < nd; j++)
        {
            double ms = 0;
            for (int k = 0; k < M; k++) ms += res[k * nd + j] * res[k * nd + j];
            double s = Math.Sqrt(ms / M);
            for (int k = 0; k < M; k++) res[k * nd + j] /= s;
        }
        return res;
    }

    /// <summary>
    /// 1-D blur of <paramref name="lines"/> lines of length <paramref name="len"/> with the given stride.
    /// </summary>
    static void Blur(double[] src, double[] dst, double[] kernel, int lines, int len, int stride, int lineStep,
        int innerCount = 1)
    {
        int rad = kernel.Length / 2;
        for (int l = 0; l < lines; l++)
            for (int inner = 0; inner < innerCount; inner++)
            {
                int start = l * lineStep + inner;
                for (int p = 0; p < len; p++)
                {
                    double acc = 0;
                    for (int d = -rad; d <= rad; d++)
                    {
                        int q = p + d;
                        if (q >= 0 && q < len) acc += kernel[d + rad] * src[start + q * stride];
                    }
                    dst[start + p * stride] = acc;
                }
            }
    }
}
