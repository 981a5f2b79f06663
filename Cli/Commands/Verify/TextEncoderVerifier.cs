using System.Diagnostics;
using System.Globalization;
using CudaI2V.Loader;
using CudaI2V.Loader.Onnx;
using CudaI2V.Pipeline.Text;
using CudaI2V.Runtime.Tensors;

namespace CudaI2V.Cli.Commands.Verify;

/// <summary>
/// <c>verify text-encoder</c>: the text encoder's ONNX model (built by CudaI2V and cached) through ONNX Runtime on
/// the CPU, fed the io file's token ids (no tokenizer), compared output by output.
/// </summary>
internal sealed class TextEncoderVerifier : IComponentVerifier
{
    public string Name => "text-encoder";

    public string Help =>
        "reads input_ids (int64 [B, L]) and compares every hidden_states.<i> (i = 0 embeddings .. layers),\n"
        + "last_hidden_state and prompt_embeds_clip_skip1 ([B, L, hidden_size]); runs the ONNX model CudaI2V builds\n"
        + "from the text encoder's safetensors (cached under --cache-dir) with ONNX Runtime.";

    public void Run(VerifyRun run)
    {
        var (model, io) = (run.Model, run.Io);
        var folder = model.Get(ComponentKind.TextEncoder);
        var config = model.TextEncoder;
        foreach (var note in config.Notes)
        {
            run.Context.Error.WriteLine($"cudai2v verify: note: {note}");
        }

        var ids = io.Require("input_ids", 2, "(B, L) token ids");
        int batch = ids.Shape[0], length = ids.Shape[1], d = config.HiddenSize;
        if (ids.DType is not (DType.I64 or DType.I32))
        {
            throw new ModelFileException($"{io.Path}: 'input_ids' is {ids.DType}; expected int64 token ids.", io.Path, "input_ids");
        }

        if (length > config.MaxPositionEmbeddings)
        {
            throw new ModelFileException(
                $"{io.Path}: 'input_ids' has {length} tokens per row; this text encoder takes at most max_position_embeddings {config.MaxPositionEmbeddings}.", io.Path, "input_ids");
        }

        var values = ids.ToFloat32Array();
        if (values.Any(v => v < 0 || v >= config.VocabSize))
        {
            var wrong = values.First(v => v < 0 || v >= config.VocabSize);
            throw new ModelFileException(
                string.Create(CultureInfo.InvariantCulture, $"{io.Path}: 'input_ids' holds id {wrong}; this text encoder's vocab_size is {config.VocabSize}."), io.Path, "input_ids");
        }

        var shape = new TensorShape(batch, length, d);
        var names = Enumerable.Range(0, config.NumHiddenLayers + 1).Select(ClipTextOnnxModel.HiddenState)
            .Append(ClipTextOnnxModel.LastHiddenState).Append(ClipTextOnnxModel.PromptEmbedsClipSkip1).ToList();
        var expected = names.ToDictionary(n => n, n => io.Require(n, shape, "(B, L, hidden_size)"));

        var clock = Stopwatch.StartNew();
        using var session = TextEncoderSession.OpenCached(
            folder, run.Variant, run.Cache, includeHiddenStates: true,
            new TextEncoderSessionOptions(TextEncoderProvider.Cpu, line => run.Context.Error.WriteLine($"cudai2v verify: {line}")));
        var opened = clock.Elapsed;
        clock.Restart();
        var actual = session.Run(ids, names);
        run.Context.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"cudai2v verify: text-encoder on {session.Provider}: model {(session.Entry!.Built ? "built" : "from the cache")} and loaded in {opened.TotalMilliseconds:F0} ms, forward {clock.Elapsed.TotalMilliseconds:F0} ms"));
        foreach (var name in names)
        {
            run.Report.Add(name, actual[name], expected[name]);
        }
    }
}
