namespace BrainMClip.Simulation;

/// <summary>
/// Local contrast and colour energy of an image, pooled on a G×G grid: what retinotopic early visual voxels of the
/// hierarchical world respond to (and the "local contrast" ground truth a decoder can be scored on).
/// Channels: 0 luminance edge energy |∇L|, 1 red–green edge energy |∇(R−G)|, 2 blue–yellow edge energy
/// |∇(B−(R+G)/2)|; layout [channel][gy][gx], values are mean gradient magnitudes per pixel (image values 0..1).
/// </summary>
public static class WorldEnergy
{
    public const int Channels = 3;

    /// <summary>Energy maps of an HWC RGB byte image of side <paramref name="size"/> into dst (length 3·G·G).</summary>
    public static void Compute(ReadOnlySpan<byte> img, int size, int grid, Span<float> dst)
    {
        int S = size, G = grid;
        if (G < 1 || G > S) throw new ArgumentOutOfRangeException(nameof(grid));
        if (dst.Length != Channels * G * G) throw new ArgumentException("energy buffer has the wrong length",
            nameof(dst));
        // Opponent channels first: L, R−G, B−(R+G)/2, in 0..1 units.
        var ch = new float[3 * S * S];
        for (int i = 0; i < S * S; i++)
        {
            float r = img[3 * i] / 255f, g = img[3 * i + 1] / 255f, b = img[3 * i + 2] / 255f;
            ch[i] = 0.299f * r + 0.587f * g + 0.114f * b;
            ch[S * S + i] = r - g;
            ch[2 * S * S + i] = b - (r + g) / 2;
        }
        var acc = new double[Channels * G * G];
        var cnt = new int[G * G];
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
            {
                int xl = Math.Max(0, x - 1), xr = Math.Min(S - 1, x + 1), yu = Math.Max(0, y - 1),
                    yd = Math.Min(S - 1, y + 1);
                int cell = (y * G / S) * G + x * G / S;
                cnt[cell]++;
                for (int c = 0; c < Channels; c++)
                {
                    var p = ch.AsSpan(c * S * S, S * S);
                    float gx = (p[y * S + xr] - p[y * S + xl]) / (xr - xl),
                        gy = (p[yd * S + x] - p[yu * S + x]) / (yd - yu);
                    acc[c * G * G + cell] += MathF.Sqrt(gx * gx + gy * gy);
                }
            }
        for (int c = 0; c < Channels; c++)
            for (int k = 0; k < G * G; k++) dst[c * G * G + k] = (float)(acc[c * G * G + k] / cnt[k]);
    }

    /// <summary>
    /// Signed mean of the same opponent channels (L, R−G, B−(R+G)/2, 0..1 units; summed in double) per grid cell, into
    /// dst (length 3·G·G, same layout as <see cref="Compute"/>): the colour term of `synth --prf-colour`.
    /// </summary>
    public static void MeanColour(ReadOnlySpan<byte> img, int size, int grid, Span<float> dst)
    {
        int S = size, G = grid;
        if (G < 1 || G > S) throw new ArgumentOutOfRangeException(nameof(grid));
        if (dst.Length != Channels * G * G) throw new ArgumentException("colour buffer has the wrong length",
            nameof(dst));
        var acc = new double[Channels * G * G];
        var cnt = new int[G * G];
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
            {
                int p = 3 * (y * S + x);
                double r = img[p] / 255.0, g = img[p + 1] / 255.0, b = img[p + 2] / 255.0;
                int cell = (y * G / S) * G + x * G / S;
                cnt[cell]++;
                acc[cell] += 0.299 * r + 0.587 * g + 0.114 * b;
                acc[G * G + cell] += r - g;
                acc[2 * G * G + cell] += b - (r + g) / 2;
            }
        for (int c = 0; c < Channels; c++)
            for (int k = 0; k < G * G; k++) dst[c * G * G + k] = (float)(acc[c * G * G + k] / cnt[k]);
    }
}
