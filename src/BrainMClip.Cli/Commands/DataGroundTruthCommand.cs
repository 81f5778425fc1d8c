using System.CommandLine;
using System.Text.Json;
using BrainMClip.Data;
using BrainMClip.Evaluation;
using BrainMClip.Simulation;

namespace BrainMClip.Cli.Commands;

/// <summary>
/// `brainmclip data ground-truth`: what each voxel stream of a synthetic subject carries about its ground truth.
/// </summary>
public sealed class DataGroundTruthCommand : ICliCommand
{
    public string[] Path => ["data", "ground-truth"];
    public string Description =>
        "For a subject written by 'brainmclip synth': linear decoders (ridge, alpha by 5-fold CV on the training " +
        "split) from the floc (semantic), prf (low) and all (detail) voxels to the ground truth — category set " +
        "(per-label and exact-set accuracy, with chance), local contrast and within-category attributes (Pearson r) " +
        "— plus the mean noise ceiling per stream and the RSA of the ground truth with every ROI group " +
        "(--noise-free: the same decoders on the noise-free signal). With --features-train/--features-test, also " +
        "top-1 retrieval of CLIP-Semantic from ridge on the true labels and captions alone. Prints JSON.";

    public void Configure(Command command)
    {
        var data = new Option<string>("--data")
        {
            Description = "Data root written by brainmclip synth (with ground_truth/).",
            Required = true,
        };
        var subject = new Option<int>("--subject")
        {
            Description = "Subject number (1-based).",
            DefaultValueFactory = _ => NsdSubject.DefaultSubject,
        };
        var ftr = new Option<string?>("--features-train")
        {
            Description = "Features of the training stimuli (brainmclip features).",
        };
        var fte = new Option<string?>("--features-test")
        {
            Description = "Features of the test stimuli (brainmclip features).",
        };
        var noiseFree = new Option<bool>("--noise-free")
        {
            Description = "Also decode from the noise-free signal in ground_truth/ (what the same decoders reach " +
                          "without noise).",
        };
        foreach (var o in new Option[] { data, subject, ftr, fte, noiseFree }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string? a = parse.GetValue(ftr), b = parse.GetValue(fte);
            if ((a is null) != (b is null))
                throw new UserInputException("--features-train and --features-test: give both or neither");
            if (parse.GetValue(subject) < 1) throw new UserInputException("--subject must be 1 or more");
            var result = GroundTruthDecoding.Run(parse.GetValue(data)!, parse.GetValue(subject),
                a is null ? null : (a, b!), parse.GetValue(noiseFree), Console.Error);
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions
            {
                WriteIndented = true,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            }));
            return 0;
        });
    }
}
