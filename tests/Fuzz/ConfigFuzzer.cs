using System.Text;
using System.Text.Json;
using CudaI2V.Loader;
using CudaI2V.Pipeline.Imaging;
using CudaI2V.Pipeline.Scheduling;
using CudaI2V.Pipeline.Text;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Fuzz;

/// <summary>
/// Every JSON file of the tiny pipeline folder (model_index.json, each component's config, the tokenizer's
/// configs and vocab.json) and its merges.txt, mutated one file per case: any key set to any kind or an extreme
/// value, keys removed, keys every reader knows added, and the byte mutations of <see cref="JsonMutator"/>. The
/// folder is then read as <c>generate</c> reads it before loading weights: every config, the cross-component
/// checks, the tokenizer, the scheduler and the image preparation.
/// </summary>
public sealed class ConfigFuzzer
{
    private static readonly string[] Files =
    [
        "model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json", "image_encoder/config.json",
        "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json",
        "tokenizer/special_tokens_map.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
    ];

    // Keys the readers know that the fixture files may not hold, so that setting them is tried too.
    private static readonly string[] ReaderKeys =
    [
        "shift_factor", "latents_mean", "latents_std", "use_quant_conv", "use_post_quant_conv", "mid_block_add_attention", "trained_betas",
        "thresholding", "timestep_spacing", "model_max_length", "num_channels", "image_size", "patch_size", "attention_head_dim",
        "num_attention_heads", "sample_size", "crop_size", "size", "resample", "image_mean", "image_std", "rescale_factor", "vocab_size",
        "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id", "steps_offset", "num_train_timesteps", "beta_start",
        "beta_end", "beta_schedule", "prediction_type", "clip_sample_range", "scaling_factor", "latent_channels", "norm_num_groups",
        "block_out_channels", "layers_per_block", "cross_attention_dim", "in_channels", "out_channels", "hidden_size", "intermediate_size",
        "projection_dim", "num_hidden_layers", "layer_norm_eps", "hidden_act", "act_fn", "pad_token", "bos_token", "eos_token", "unk_token",
        "do_lower_case", "_class_name", "architectures", "unet", "vae", "tokenizer", "scheduler", "feature_extractor",
    ];

    private readonly string _root;
    private readonly Dictionary<string, byte[]> _originals = [];
    private readonly string[] _keys;
    private readonly RgbImage _image;
    private string? _mutated;

    /// <summary>Copies the tiny pipeline's configs (no weights are needed) into <paramref name="folder"/>.</summary>
    public ConfigFuzzer(string folder)
    {
        _root = folder;
        Fixtures.CopyTree(Fixtures.Path("pipeline-tiny", "model"), _root);
        var keys = new SortedSet<string>(ReaderKeys, StringComparer.Ordinal);
        foreach (var file in Files)
        {
            var bytes = File.ReadAllBytes(Path.Combine(_root, file));
            _originals[file] = bytes;
            if (file.EndsWith(".json", StringComparison.Ordinal) && file != "tokenizer/vocab.json")
            {
                using var document = JsonDocument.Parse(bytes);
                keys.UnionWith(document.RootElement.EnumerateObject().Select(p => p.Name));
            }
        }

        _keys = [.. keys];
        _image = new RgbImage(60, 44, new byte[60 * 44 * 3]);
    }

    /// <summary>The pipeline folder the cases are written into.</summary>
    public string Root => _root;

    /// <summary>Restores every file, then mutates one; returns what was done.</summary>
    public string Make(FuzzRandom random)
    {
        if (_mutated is { } previous)
        {
            File.WriteAllBytes(Path.Combine(_root, previous), _originals[previous]);
        }

        var target = random.Pick(Files);
        _mutated = target;
        var original = _originals[target];
        byte[] mutated;
        string what;
        if (target.EndsWith(".txt", StringComparison.Ordinal))
        {
            var description = new StringBuilder();
            mutated = JsonMutator.MutateBytes(original, random, description);
            what = description.ToString();
        }
        else
        {
            (mutated, what) = JsonMutator.Mutate(Encoding.UTF8.GetString(original), random, _keys);
        }

        File.WriteAllBytes(Path.Combine(_root, target), mutated);
        return $"{target}: {what.TrimStart(';', ' ')}";
    }

    /// <summary>What generate reads before any weight: every config, their agreement, the tokenizer, the scheduler, the image preparation.</summary>
    public void Load()
    {
        var model = ModelDirectory.Open(_root);
        foreach (var component in model.Components)
        {
            _ = component.Config;
        }

        PipelineChecks.Check(model);
        var tokenizer = ClipTokenizer.Load(model.Tokenizer);
        tokenizer.CheckFits(model.TextEncoder);
        _ = tokenizer.Encode("a cat on a skateboard, 4k");
        new DDIMScheduler(model.Scheduler).SetTimesteps(1);
        _ = ImagePreprocessor.ClipPixels(_image, 56, model.FeatureExtractor);
        _ = ImagePreprocessor.VaePixels(_image, 56, 40);
    }
}
