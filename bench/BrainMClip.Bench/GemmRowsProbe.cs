using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace BrainMClip.Bench;

/// <summary>
/// Does a Linear's row depend on how many rows share the GEMM? (issue 17, reconstruct --batch K identity.) For the
/// Versatile Diffusion mid block's linear shapes (1280 wide, GEGLU 1280→10240, 5120→1280), row 0..1 of
/// linear(x[:M]) against the same rows of linear(x[:32]), for M = 2 … 512; and the same with the input zero-padded
/// to 32 rows when M &lt; 32. Prints the max |Δ| per shape and M (0 = bit-identical) as JSON in "probe".
/// </summary>
static class GemmRowsProbe
{
    static readonly long[] Rows = [2, 4, 8, 16, 24, 32, 48, 64, 128, 256, 512];

    public static Workload Create()
    {
        manual_seed(0);
        (string name, long k, long n)[] shapes = [("attn_1280", 1280, 1280), ("geglu_1280", 1280, 10240),
            ("ff_out_5120", 5120, 1280)];
        var data = shapes.Select(s => (s.name, x: randn(512, s.k), w: randn(s.n, s.k), b: randn(s.n))).ToArray();
        var info = new JsonObject();
        void Step()
        {
            using var scope = NewDisposeScope();
            var probe = new JsonObject();
            foreach (var (name, x, w, b) in data)
            {
                var reference = nn.functional.linear(x.narrow(0, 0, 32), w, b).narrow(0, 0, 2);
                var plain = new JsonObject();
                var padded = new JsonObject();
                foreach (long m in Rows)
                {
                    var xm = x.narrow(0, 0, m);
                    plain[$"{m}"] = MaxDiff(nn.functional.linear(xm, w, b), reference);
                    var xp = m < 32 ? cat([xm, zeros(32 - m, x.shape[1])], 0) : xm;
                    padded[$"{m}"] = MaxDiff(nn.functional.linear(xp, w, b), reference);
                }
                probe[name] = new JsonObject { ["plain"] = plain, ["padded_to_32"] = padded };
            }
            info["probe"] = probe;
        }
        return new Workload(Step, null, info);
    }

    static double MaxDiff(Tensor y, Tensor reference) =>
        (y.narrow(0, 0, 2) - reference).abs().max().item<float>();
}
