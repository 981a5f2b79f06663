using System.Text.Json.Serialization;
using CudaI2V.Server.Api;
using CudaI2V.Server.Jobs;

namespace CudaI2V.Server;

/// <summary>The API's JSON (camelCase), generated at build time so the server needs no reflection.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(Job))]
[JsonSerializable(typeof(JobPage))]
[JsonSerializable(typeof(ProblemBody))]
[JsonSerializable(typeof(HealthBody))]
public sealed partial class ServerJson : JsonSerializerContext;

/// <summary>The body of <c>/healthz</c> and <c>/readyz</c>.</summary>
/// <param name="Status">ok, loading, failed, or unavailable (the queue's Redis does not answer).</param>
/// <param name="Detail">The engine's device, or why it failed to load.</param>
public sealed record HealthBody(string Status, string? Detail = null);
