using System.Text.Json.Nodes;
using BrainMClip.Model;
using static TorchSharp.torch;

namespace BrainMClip.Bench;

/// <summary>
/// The matrix products of one train_step_paper step, run alone (issue 17's roofline question): every Linear of the
/// forward, the loss (decoders, fusion map, SoftCLIP) and the backward at the step's shapes, forward product, input
/// gradient (where the input needs one) and weight gradient, no elementwise work. With --phases each layer class is
/// a phase, so the output shows which products cost what; the total is the GEMM-only lower bound of the step.
/// </summary>
static class GemmWorkloads
{
    /// <summary>One Linear class of the step: rows M, in K, out N, how often per step, whether its input needs a
    /// gradient (the voxels, the fusion map's ground-truth input and the SoftCLIP targets do not).</summary>
    sealed record Layer(string Name, long M, long K, long N, int Count, bool InputGrad);

    public static Workload PaperStep(StepPhases trace)
    {
        var m = BrainMClipConfig.Preset("paper").Model;
        const long b = 50, nD = 15724, nS = 4500;
        long tokens = b * m.Tokens, flatD = (long)m.Tokens * m.DetailWidth, flatS = (long)m.Tokens * m.SemanticWidth;
        Layer[] layers =
        [
            new("input", b, nD, m.Hidden, 1, false), new("input", b, nS, m.Hidden, 1, false),
            new("blocks", b, m.Hidden, m.Hidden, 2 * m.Blocks, true),
            new("head_proj", b, m.Hidden, (long)m.Tokens * m.Rank, 2, true),
            new("head_up", tokens, m.Rank, m.DetailWidth, 1, true),
            new("head_up", tokens, m.Rank, m.SemanticWidth, 1, true),
            new("decoders", b, m.Hidden, m.Hidden, 4, true), new("decoders", b, m.Hidden, nD, 2, true),
            new("decoders", b, m.Hidden, nS, 2, true),
            new("fusion", tokens, m.DetailWidth, m.SemanticWidth, 1, false),
            // SoftCLIP: y·yᵀ (no gradient) and p·yᵀ (gradient for p only) on the flattened tokens.
            new("softclip", b, flatD, b, 1, false), new("softclip", b, flatD, b, 1, true),
            new("softclip", b, flatS, b, 1, false), new("softclip", b, flatS, b, 1, true),
        ];
        manual_seed(0);
        var data = layers.Select(l => (l, x: randn(l.M, l.K), w: randn(l.N, l.K), g: randn(l.M, l.N))).ToArray();
        double flops = layers.Sum(l => 2.0 * l.M * l.K * l.N * l.Count * (l.InputGrad ? 3 : 2));
        void Step()
        {
            using var noGrad = no_grad();
            trace.Start();
            foreach (var group in data.GroupBy(d => d.l.Name))
            {
                foreach (var (l, x, w, g) in group)
                    for (int i = 0; i < l.Count; i++)
                    {
                        using var scope = NewDisposeScope();
                        _ = nn.functional.linear(x, w);
                        _ = g.t().mm(x);
                        if (l.InputGrad) _ = g.mm(w);
                    }
                trace.Mark(group.Key);
            }
        }
        return new Workload(Step, null, new JsonObject
        {
            ["flops"] = flops,
            ["what"] = "forward, weight-gradient and (where needed) input-gradient products of one paper train step",
        });
    }
}
