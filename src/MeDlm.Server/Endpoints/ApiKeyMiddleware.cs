using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Endpoints;

/// <summary>
/// When <c>Auth:ApiKey</c> is set, every <c>/v1</c> route requires <c>Authorization: Bearer &lt;key&gt;</c>
/// (compared in constant time). Health and metrics stay open for probes and scrapers.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, IOptions<AuthOptions> options, ServerMetrics metrics)
{
    private readonly byte[]? _key = string.IsNullOrEmpty(options.Value.ApiKey) ? null : Encoding.UTF8.GetBytes(options.Value.ApiKey);

    public Task InvokeAsync(HttpContext context)
    {
        if (_key is null || !context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
        {
            return next(context);
        }
        string header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), _key))
        {
            return next(context);
        }
        metrics.Rejected.WithLabels("unauthorized").Inc();
        context.Response.Headers.WWWAuthenticate = "Bearer";
        string message = header.Length == 0
            ? "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'."
            : "Incorrect API key provided.";
        return HttpIo.WriteErrorAsync(context, new ApiException(StatusCodes.Status401Unauthorized, message, null, "invalid_api_key"));
    }
}
