using Microsoft.AspNetCore.Http;

namespace MeDlm.Server.Contracts;

/// <summary>
/// A request that cannot be served, with the HTTP status and the OpenAI error fields it is answered with.
/// Thrown by parsing and validation before anything is queued, so a rejected request changes nothing.
/// </summary>
public sealed class ApiException : Exception
{
    /// <summary>Creates the error.</summary>
    public ApiException(int statusCode, string message, string? param = null, string? code = null)
        : base(message)
    {
        StatusCode = statusCode;
        Param = param;
        Code = code;
    }

    /// <summary>Required by the exception pattern; a 400 with <paramref name="message"/>.</summary>
    public ApiException(string message) : this(StatusCodes.Status400BadRequest, message) { }

    /// <summary>Required by the exception pattern; a 400 with <paramref name="message"/>.</summary>
    public ApiException(string message, Exception innerException) : base(message, innerException)
    {
        StatusCode = StatusCodes.Status400BadRequest;
    }

    /// <summary>Required by the exception pattern.</summary>
    public ApiException() : this("Bad request.") { }

    /// <summary>The HTTP status to answer with.</summary>
    public int StatusCode { get; }

    /// <summary>The request field at fault.</summary>
    public string? Param { get; }

    /// <summary>OpenAI's <c>code</c>.</summary>
    public string? Code { get; }

    /// <summary>A 400 about one field.</summary>
    public static ApiException Invalid(string param, string message, string code = "invalid_value")
        => new(StatusCodes.Status400BadRequest, message, param, code);

    /// <summary>The error body for this exception.</summary>
    public OpenAiErrorResponse ToBody() => new(new OpenAiError(Message, TypeFor(StatusCode), Param, Code));

    /// <summary>OpenAI's error type for an HTTP status.</summary>
    public static string TypeFor(int statusCode) => statusCode switch
    {
        StatusCodes.Status401Unauthorized => OpenAiErrorTypes.Authentication,
        StatusCodes.Status429TooManyRequests => OpenAiErrorTypes.RateLimit,
        >= 500 => OpenAiErrorTypes.Server,
        _ => OpenAiErrorTypes.InvalidRequest,
    };
}
