using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace CudaI2V.Server.Api;

/// <summary>An RFC 9457 problem detail, as every error of the API is answered; <c>field</c> names the offending request field.</summary>
/// <param name="Title">A short summary of the kind of problem.</param>
/// <param name="Status">The HTTP status.</param>
/// <param name="Detail">What is wrong and what to do.</param>
/// <param name="Field">The request field at fault (<c>image</c>, <c>options</c>, <c>options.frames</c>, <c>format</c>, ...), when one is.</param>
public sealed record ProblemBody(string Title, int Status, string Detail, string? Field = null)
{
    /// <summary>Always about:blank: the status and title say it all.</summary>
    public string Type { get; init; } = "about:blank";
}

/// <summary>A request the API refuses; the handler that catches it writes <see cref="Body"/>.</summary>
public sealed class ApiProblemException : Exception
{
    /// <summary>Creates the problem.</summary>
    public ApiProblemException(int status, string title, string detail, string? field = null)
        : base(detail) => Body = new ProblemBody(title, status, detail, field);

    /// <summary>Creates a 400 problem.</summary>
    public ApiProblemException()
        : this(StatusCodes.Status400BadRequest, "Bad request", "The request is invalid.")
    {
    }

    /// <summary>Creates a 400 problem.</summary>
    public ApiProblemException(string message)
        : this(StatusCodes.Status400BadRequest, "Bad request", message)
    {
    }

    /// <summary>Creates a 400 problem.</summary>
    public ApiProblemException(string message, Exception inner)
        : base(message, inner) => Body = new ProblemBody("Bad request", StatusCodes.Status400BadRequest, message);

    /// <summary>The problem detail written to the client.</summary>
    public ProblemBody Body { get; }

    /// <summary>A 400 naming <paramref name="field"/>.</summary>
    public static ApiProblemException Invalid(string field, string detail) => new(StatusCodes.Status400BadRequest, "Invalid request field", detail, field);
}

/// <summary>Writes JSON and problem details.</summary>
public static class Responses
{
    /// <summary>Writes <paramref name="problem"/> as <c>application/problem+json</c>.</summary>
    public static Task Problem(HttpContext context, ProblemBody problem)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(problem);
        context.Response.StatusCode = problem.Status;
        context.Response.ContentType = "application/problem+json";
        return JsonSerializer.SerializeAsync(context.Response.Body, problem, ServerJson.Default.ProblemBody, context.RequestAborted);
    }

    /// <summary>Writes a problem of <paramref name="status"/>.</summary>
    public static Task Problem(HttpContext context, int status, string title, string detail, string? field = null) =>
        Problem(context, new ProblemBody(title, status, detail, field));

    /// <summary>Writes <paramref name="value"/> as JSON with <paramref name="status"/>.</summary>
    public static Task Json<T>(HttpContext context, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, int status = StatusCodes.Status200OK)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }
}
