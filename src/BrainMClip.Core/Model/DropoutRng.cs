using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BrainMClip.Model;

/// <summary>
/// Holds the generator that drives dropout. The network owns it so training never touches the process-wide RNG
/// (which anything else in the process may consume), making runs reproducible and resumable from a saved state.
/// </summary>
public sealed class DropoutRng
{
    public Generator? Generator { get; set; }
}
