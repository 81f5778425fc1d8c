using BrainMClip.Features;
using static TorchSharp.torch;

namespace BrainMClip.Parity;

/// <summary>
/// <c>parity --component clip-vision</c> (docs/parity.md): <c>pixel_values</c> → <c>hidden_states.k</c>,
/// <c>pooler_output</c>,
/// <c>image_embeds</c>, <c>vd_tokens</c>, <c>detail_mean</c>; <c>pixel_values_batch</c> → <c>image_embeds_batch</c>,
/// <c>hidden_states_last_batch</c>.
/// </summary>
public sealed class ClipVisionParity : IParityComponent
{
    public string Name => "clip-vision";
    public string Description =>
        "model = HF CLIP folder; pixel_values -> hidden_states.k, pooler_output, image_embeds, vd_tokens, " +
        "detail_mean (detail layers, default scaled 11-20); pixel_values_batch -> image_embeds_batch, " +
        "hidden_states_last_batch.";

    public void Run(string? model, IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs,
        ParityOptions options)
    {
        if (model == null) throw new UserInputException(
            "parity clip-vision: the model (a Hugging Face CLIP folder) is required");
        using var clip = ClipVisionModel.FromPretrained(model, options.Device);
        int layers = clip.Config.NumHiddenLayers;
        var detail = options.DetailLayers is
        { } d ? ClipRunOptions.ParseLayerRange(d, layers) : clip.Config.DefaultDetailLayers;
        if (inputs.TryGetValue("pixel_values", out var px))
        {
            using var o = clip.Run(px, ClipRunOptions.AllHiddenStates(layers, detail));
            foreach (var (k, t) in o.HiddenStates) outputs[$"hidden_states.{k}"] = t.cpu().clone();
            outputs["pooler_output"] = o.PoolerOutput.cpu().clone();
            outputs["image_embeds"] = o.ImageEmbeds.cpu().clone();
            outputs["vd_tokens"] = o.VdTokens.cpu().clone();
            outputs["detail_mean"] = o.DetailMean!.cpu().clone();
        }
        if (inputs.TryGetValue("pixel_values_batch", out var batch))
        {
            using var o = clip.Run(batch, new ClipRunOptions());
            outputs["image_embeds_batch"] = o.ImageEmbeds.cpu().clone();
            outputs["hidden_states_last_batch"] = o.LastHiddenState.cpu().clone();
        }
    }
}
