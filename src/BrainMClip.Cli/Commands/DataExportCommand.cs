using System.CommandLine;
using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.IO;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip data export`: writes one voxel stream of one split as a float32 .npy (docs/cli.md).</summary>
public sealed class DataExportCommand : ICliCommand
{
    public string[] Path => ["data", "export"];
    public string Description =>
        "Write one voxel stream (detail = all nsdgeneral voxels, semantic = floc-labelled, low = prf-visualrois) of " +
        "one split as a float32 (samples, voxels) .npy, beta-scaled, optionally z-scored with the training split's " +
        "statistics.";

    public void Configure(Command command)
    {
        var data = SharedOptions.Data();
        var subject = SharedOptions.Subject();
        var split = new Option<string>("--split") { Description = "Which rows: train or test.", Required = true };
        split.AcceptOnlyFromAmong("train", "test");
        var stream = new Option<string>("--stream")
        { Description = "Which voxels: detail, semantic or low.", Required = true };
        stream.AcceptOnlyFromAmong("detail", "semantic", "low");
        var zscore = new Option<bool>("--zscore")
        { Description = "Z-score every voxel with the TRAIN split's mean and std (ddof=1; std 0 → 1)." };
        var beta = SharedOptions.BetaScale();
        var stats = new Option<string?>("--stats-out")
        { Description = "Also save the z-score statistics (safetensors, '<stream>.mean'/'<stream>.std')." };
        var output = new Option<string>("--out")
        { Description = "Output .npy file (written atomically).", Required = true };
        foreach (var o in new Option[]
            { data, subject, split, stream, zscore, beta, stats, output }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var s = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            string sp = parse.GetValue(split)!, outPath = parse.GetValue(output)!;
            var vs = NsdRois.ParseStream(parse.GetValue(stream)!);
            using var x = s.LoadStream(sp, vs);
            bool z = parse.GetValue(zscore);
            string? statsPath = parse.GetValue(stats);
            var result = x;
            if (z || statsPath != null)
            {
                using var train = sp == "train" ? x.alias() : s.LoadStream("train", vs);
                using var zs = ZScore.Fit(train);
                if (statsPath != null) zs.Save(statsPath, vs.ToString().ToLowerInvariant());
                if (z) result = zs.Apply(x);
            }
            long[] shape = result.shape;
            try
            {
                using var c = result.contiguous();
                Npy.WriteFloat32(outPath, shape, c.data<float>().ToArray());
            }
            finally { if (!ReferenceEquals(result, x)) result.Dispose(); }
            var report = new
            {
                @out = System.IO.Path.GetFullPath(outPath),
                subject = s.Subject,
                split = sp,
                stream = vs.ToString()
                    .ToLowerInvariant(),
                shape,
                zscore = z,
                beta_scale = new
                { mode = s.BetaScale.Mode, divisor = s.BetaScale.Divisor, reason = s.BetaScale.Reason },
            };
            Console.WriteLine(
                JsonSerializer.Serialize(report,
                new JsonSerializerOptions
                {
                    WriteIndented = true,
                    Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping
                }));
            return 0;
        });
    }
}
