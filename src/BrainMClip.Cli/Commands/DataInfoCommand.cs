using System.CommandLine;
using System.Text.Json;
using BrainMClip.Data;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip data info`: validates one subject of an NSD-layout data root and prints its figures as
/// JSON.</summary>
public sealed class DataInfoCommand : ICliCommand
{
    public string[] Path => ["data", "info"];
    public string Description =>
        "Check one subject of an NSD-layout data root (docs/data.md: fMRI matrices, stimuli, ROI masks) and print " +
            "one " +
            "JSON " +
        "object: sample counts, voxel counts per stream (detail/semantic/low), image shape, beta scaling and voxels " +
            "per ROI label.";

    public void Configure(Command command)
    {
        var data = SharedOptions.Data();
        var subject = SharedOptions.Subject();
        var beta = SharedOptions.BetaScale();
        command.Options.Add(data);
        command.Options.Add(subject);
        command.Options.Add(beta);
        command.SetAction(parse =>
        {
            var s = NsdSubject.Open(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);
            // Every value is read once: NaN/Inf is bad input and should surface here, not in training.
            foreach (var split in NsdSubject.Splits) s.ValidateFinite(split);
            var info = new Dictionary<string, object?>
            {
                ["subject"] = s.Subject,
                ["data_root"] = System.IO.Path.GetFullPath(s.DataRoot),
                ["train_samples"] = s.TrainSamples,
                ["test_samples"] = s.TestSamples,
                ["voxels_detail"] = s.Split.Detail.Length,
                ["voxels_semantic"] = s.Split.Semantic.Length,
                ["voxels_low"] = s.Split.Low.Length,
                ["image_shape"] = s.ImageShape,
                ["beta_scale"] = new
                { mode = s.BetaScale.Mode, divisor = s.BetaScale.Divisor, reason = s.BetaScale.Reason },
                ["rois"] = s.Split.RoiCounts,
                ["fmri_dtype"] = NsdSubject.Splits.ToDictionary(x => x, x => s.FmriDType(x).ToString()
                    .ToLowerInvariant()),
                ["roi_grid"] = s.RoiGridShape,
            };
            Console.WriteLine(
                JsonSerializer.Serialize(info,
                new JsonSerializerOptions
                {
                    WriteIndented = true,
                    Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping
                }));
            return 0;
        });
    }
}
