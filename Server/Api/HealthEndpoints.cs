using CudaI2V.Server.Scale;
using Microsoft.AspNetCore.Http;

namespace CudaI2V.Server.Api;

/// <summary><c>/healthz</c> (the process answers), <c>/readyz</c> (the engine is loaded) and <c>/metrics</c> (Prometheus text).</summary>
internal sealed class HealthEndpoints(ServerState state)
{
    public static Task Health(HttpContext context) => Responses.Json(context, new HealthBody("ok"), ServerJson.Default.HealthBody);

    public Task Ready(HttpContext context)
    {
        if (state.Jobs.Unavailable is { } unavailable)
        {
            return Responses.Json(context, new HealthBody("unavailable", unavailable), ServerJson.Default.HealthBody, StatusCodes.Status503ServiceUnavailable);
        }

        if (state.Settings.Role == ServeRole.Api)
        {
            return Responses.Json(context, new HealthBody("ok", $"the API; jobs run on the workers that read the queue at {state.Settings.Redis?.Endpoint}"), ServerJson.Default.HealthBody);
        }

        if (state.LoadedEngine is { } engine)
        {
            return Responses.Json(context, new HealthBody("ok", engine.Ops.Memory.Description), ServerJson.Default.HealthBody);
        }

        var body = state.EngineFailed is { } failure ? new HealthBody("failed", failure) : new HealthBody("loading", "The engine is loading its model.");
        return Responses.Json(context, body, ServerJson.Default.HealthBody, StatusCodes.Status503ServiceUnavailable);
    }

    public Task Metrics(HttpContext context)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return context.Response.WriteAsync(state.Metrics.Render(state.Jobs, state.LoadedEngine?.Ops), context.RequestAborted);
    }
}
