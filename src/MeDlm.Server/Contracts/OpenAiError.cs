using System.Text.Json.Serialization;

namespace MeDlm.Server.Contracts;

/// <summary>OpenAI's error body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed record OpenAiErrorResponse(OpenAiError Error);

/// <summary>The inner error object.</summary>
/// <param name="Message">What went wrong, for a person.</param>
/// <param name="Type"><c>invalid_request_error</c>, <c>authentication_error</c>, <c>rate_limit_error</c> or <c>server_error</c>.</param>
/// <param name="Param">The request field at fault, if any.</param>
/// <param name="Code">A stable machine-readable code, if any.</param>
public sealed record OpenAiError(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);

/// <summary>The error types OpenAI uses.</summary>
public static class OpenAiErrorTypes
{
    /// <summary>The request is at fault (4xx).</summary>
    public const string InvalidRequest = "invalid_request_error";

    /// <summary>Missing or wrong API key (401).</summary>
    public const string Authentication = "authentication_error";

    /// <summary>Too many requests (429).</summary>
    public const string RateLimit = "rate_limit_error";

    /// <summary>The server is at fault or not available (5xx).</summary>
    public const string Server = "server_error";
}
