namespace BrainMClip.Generation.Pipelines;

/// <summary>
/// Builds the best-of-N scorer from a generator's <c>clip/</c> folder. The CLIP vision model lives in
/// <c>BrainMClip.Features</c>; until it is available in this build, best-of-N reports that clearly instead of guessing.
/// </summary>
public static class ClipScorers
{
    public static ICandidateScorer Create(string clipFolder) =>
        throw new UserInputException(
            $"{clipFolder}: best-of-N needs the CLIP vision model (BrainMClip.Features.ClipVisionModel), which this build does not include yet; use --candidates 1");
}
