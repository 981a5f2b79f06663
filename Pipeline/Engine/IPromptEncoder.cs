using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Pipeline.Engine;

/// <summary>Turns a prompt into the text embeddings the UNet attends to.</summary>
public interface IPromptEncoder
{
    /// <summary>The embeddings of <paramref name="prompt"/>: a host F32 tensor (1, 77, D) (CLIP, clip_skip 1).</summary>
    Tensor Encode(string prompt);
}
