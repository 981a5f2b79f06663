using CudaI2V.Pipeline.Imaging;
using CudaI2V.Server.Jobs;
using Microsoft.AspNetCore.Http;

namespace CudaI2V.Server.Api;

/// <summary>
/// <c>POST /v1/videos</c>: a multipart form with the image (field <c>image</c>) and the options (field <c>options</c>,
/// JSON) becomes a queued job: 202 with the job and <c>Location: /v1/jobs/{id}</c>. A repeated
/// <c>Idempotency-Key</c> returns the first job (200). Refusals: 413 for a body over the upload limit, 400 naming the
/// field for a missing or unreadable image or a wrong option, 503 with <c>Retry-After</c> when the queue is full.
/// </summary>
internal sealed class SubmitEndpoint(ServerState state)
{
    /// <summary>Seconds a client is asked to wait after a 503 for a full queue.</summary>
    public const int RetryAfterSeconds = 5;

    /// <summary>The longest <c>Idempotency-Key</c> accepted.</summary>
    public const int MaxKeyLength = 200;

    public async Task Handle(HttpContext context)
    {
        var request = context.Request;
        var limit = state.Settings.MaxUploadBytes;
        if (request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }

        if (!request.HasFormContentType || !(request.ContentType ?? "").StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiProblemException(
                StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                "Send a multipart/form-data body with the fields 'image' (the file) and 'options' (JSON), e.g. curl -F image=@cat.png -F 'options={\"prompt\":\"a cat\"}'.");
        }

        string? key = request.Headers["Idempotency-Key"];
        if (key is not null && (key.Length == 0 || key.Length > MaxKeyLength))
        {
            throw ApiProblemException.Invalid("Idempotency-Key", $"The Idempotency-Key header must be 1 to {MaxKeyLength} characters long.");
        }

        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(limit);
        }
        catch (InvalidDataException e)
        {
            throw e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                ? TooLarge(limit)
                : ApiProblemException.Invalid("image", $"The multipart body cannot be read: {e.Message}");
        }

        var settings = OptionsReader.Read(form["options"].FirstOrDefault(), state.Settings);
        var image = await ReadImage(form, context.RequestAborted).ConfigureAwait(false);
        if (state.EngineFailed is { } failure)
        {
            throw new ApiProblemException(StatusCodes.Status503ServiceUnavailable, "Engine unavailable", $"The engine failed to load, so no job can run: {failure}");
        }

        Job job;
        bool created;
        try
        {
            (job, created) = state.Jobs.Submit(settings, image, key);
        }
        catch (QueueFullException e)
        {
            state.Metrics.Refused();
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new ApiProblemException(StatusCodes.Status503ServiceUnavailable, "Queue full", e.Message);
        }

        context.Response.Headers.Location = job.Url;
        await Responses.Json(context, job, ServerJson.Default.Job, created ? StatusCodes.Status202Accepted : StatusCodes.Status200OK).ConfigureAwait(false);
    }

    private async Task<byte[]> ReadImage(IFormCollection form, CancellationToken cancel)
    {
        var file = form.Files.GetFile("image")
            ?? throw ApiProblemException.Invalid("image", "The form field 'image' is missing: attach the first frame's image as a file (PNG, JPEG, BMP, GIF, TGA, WebP or TIFF).");
        if (file.Length == 0)
        {
            throw ApiProblemException.Invalid("image", "The uploaded image is empty.");
        }

        var bytes = new byte[file.Length];
        using (var stream = new MemoryStream(bytes))
        {
            await file.CopyToAsync(stream, cancel).ConfigureAwait(false);
        }

        RgbImage decoded;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            decoded = ImageLoader.Load(stream, "The uploaded image");
        }
        catch (ImageInputException e)
        {
            throw ApiProblemException.Invalid("image", e.Message);
        }

        var side = state.Settings.MaxImageSide;
        if (decoded.Width > side || decoded.Height > side)
        {
            throw ApiProblemException.Invalid("image", $"The uploaded image is {decoded.Width}x{decoded.Height}; this server accepts images up to {side} pixels a side. Scale it down first.");
        }

        return bytes;
    }

    private static ApiProblemException TooLarge(long limit) => new(
        StatusCodes.Status413PayloadTooLarge, "Upload too large",
        $"The upload is larger than this server's limit of {limit / (1024 * 1024.0):0.#} MiB; send a smaller image.", "image");
}
