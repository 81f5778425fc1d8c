using System.CommandLine;
using System.Text.Json;
using BrainMClip.Data;

namespace BrainMClip.Cli.Commands;

/// <summary>`brainmclip data info`: validates one subject of an NSD-layout data root and prints its figures as
/// JSON.</summary>
public sealed class DataInfoCommand : StageCommand<DataInfoCommand.Request, NsdSubject>
{
    public sealed record Request(string Data, int Subject, string BetaScale);

    public override string[] Path => ["data", "info"];
    public override string Description =>
        "Check one subject of an NSD-layout data root (docs/data.md: fMRI matrices, stimuli, ROI masks) and print " +
        "one JSON object: sample counts, voxel counts per stream (detail/semantic/low), image shape, beta scaling " +
        "and voxels per ROI label.";

    readonly Option<string> data = SharedOptions.Data();
    readonly Option<int> subject = SharedOptions.Subject();
    readonly Option<string> beta = SharedOptions.BetaScale();

    protected override Option[] Options => [data, subject, beta];

    protected override JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public override Request Bind(ParseResult parse, CancellationToken cancel) =>
        new(parse.GetValue(data)!, parse.GetValue(subject), parse.GetValue(beta)!);

    public override NsdSubject Execute(Request r) => NsdSubject.OpenChecked(r.Data, r.Subject, r.BetaScale);

    public override object Report(Request request, NsdSubject s) => new Dictionary<string, object?>
    {
        ["subject"] = s.Subject,
        ["data_root"] = System.IO.Path.GetFullPath(s.DataRoot),
        ["train_samples"] = s.TrainSamples,
        ["test_samples"] = s.TestSamples,
        ["voxels_detail"] = s.Split.Detail.Length,
        ["voxels_semantic"] = s.Split.Semantic.Length,
        ["voxels_low"] = s.Split.Low.Length,
        ["image_shape"] = s.ImageShape,
        ["beta_scale"] = new { mode = s.BetaScale.Mode, divisor = s.BetaScale.Divisor, reason = s.BetaScale.Reason },
        ["rois"] = s.Split.RoiCounts,
        ["fmri_dtype"] = NsdSubject.Splits.ToDictionary(x => x, x => s.FmriDType(x).ToString().ToLowerInvariant()),
        ["roi_grid"] = s.RoiGridShape,
    };
}
