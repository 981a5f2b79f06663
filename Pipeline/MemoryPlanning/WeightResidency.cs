namespace CudaI2V.Pipeline.MemoryPlanning;

/// <summary>The three stages of a request, one after the other, each on arenas of its own.</summary>
public enum RequestStage
{
    /// <summary>The image through the CLIP image encoder and the VAE encoder.</summary>
    Encode,

    /// <summary>The denoising loop: the UNet step, run once per step.</summary>
    Denoise,

    /// <summary>The VAE decoder, chunk after chunk of frames.</summary>
    Decode,
}

/// <summary>
/// Which models' weights stay on the device between the stages of a request (<see cref="MemoryChoices.Residency"/>). A
/// released model is uploaded again, into a block of its own, by the next stage that needs it: time (one upload of its
/// weights per request) traded for memory, as the other choices trade launches for memory.
/// </summary>
public enum WeightResidency
{
    /// <summary>Every model stays loaded: nothing is uploaded again.</summary>
    KeepAll,

    /// <summary>The image encoder and the VAE encoder are freed once the image is encoded (the loop and the decode never read them).</summary>
    ReleaseEncoders,

    /// <summary>
    /// Each stage holds only its own model: the encoders while the image is encoded, the UNet through the loop, the VAE
    /// decoder while frames are decoded. Each is freed after its stage, so every request uploads every model once.
    /// </summary>
    OneStageAtATime,
}

/// <summary>What each <see cref="WeightResidency"/> holds in each stage.</summary>
public static class WeightResidencies
{
    /// <summary>Every residency, the one that uploads least first.</summary>
    public static IReadOnlyList<WeightResidency> All { get; } = [WeightResidency.KeepAll, WeightResidency.ReleaseEncoders, WeightResidency.OneStageAtATime];

    /// <summary>Whether the encoders' weights are on the device during <paramref name="stage"/>.</summary>
    public static bool HoldsEncoders(this WeightResidency residency, RequestStage stage) =>
        stage == RequestStage.Encode || residency == WeightResidency.KeepAll;

    /// <summary>Whether the UNet's weights are on the device during <paramref name="stage"/>.</summary>
    public static bool HoldsUNet(this WeightResidency residency, RequestStage stage) =>
        stage == RequestStage.Denoise || residency != WeightResidency.OneStageAtATime;

    /// <summary>Whether the VAE decoder's weights are on the device during <paramref name="stage"/>.</summary>
    public static bool HoldsDecoder(this WeightResidency residency, RequestStage stage) =>
        stage == RequestStage.Decode || residency != WeightResidency.OneStageAtATime;

    /// <summary>A few words for the plan's line: what is released and when.</summary>
    public static string Describe(this WeightResidency residency) => residency switch
    {
        WeightResidency.KeepAll => "every model kept loaded",
        WeightResidency.ReleaseEncoders => "encoders released after use",
        WeightResidency.OneStageAtATime => "each model loaded for its own stage only",
        _ => throw new ArgumentOutOfRangeException(nameof(residency), residency, null),
    };

}
