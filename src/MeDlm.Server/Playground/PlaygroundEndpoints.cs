using System.Net;
using System.Reflection;
using MeDlm.Server.Endpoints;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Playground;

/// <summary>
/// The browser playground: <c>GET /</c> and its script and style sheet, plain files embedded in this
/// assembly. The page talks only to the public <c>/v1</c> API; it carries no configuration of its own.
/// </summary>
internal static class PlaygroundEndpoints
{
    private const string ResourcePrefix = "MeDlm.Server.Playground.";

    // Only our own files, no inline script or style, no framing, nothing fetched from elsewhere.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The served files: request path, embedded resource, content type.</summary>
    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/playground/playground.js", "playground.js", "text/javascript; charset=utf-8"),
        ("/playground/playground.css", "playground.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Decided at the first request: the listening addresses are known only once the server has started.
        var enabled = new Lazy<bool>(() => IsEnabled(app.Services.GetRequiredService<IOptions<PlaygroundOptions>>().Value,
            app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []));
        foreach ((string path, string resource, string contentType) in Files)
        {
            byte[] body = ReadResource(resource);
            app.MapGet(path, context => enabled.Value ? WriteFileAsync(context, body, contentType) : NotFoundAsync(context));
        }
    }

    /// <summary>On when configured so; when unset, on only while every address listened on is a loopback address.</summary>
    internal static bool IsEnabled(PlaygroundOptions options, IEnumerable<string> addresses) =>
        options.Enabled ?? (addresses.Any() && addresses.All(IsLoopbackAddress));

    /// <summary>Whether a Kestrel address (<c>http://127.0.0.1:8080</c>, <c>http://[::1]:80</c>, <c>http://localhost:5000</c>) is loopback only.</summary>
    internal static bool IsLoopbackAddress(string address)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri))
        {
            // Wildcards (http://+:80, http://*:80) are not URIs: they mean every interface.
            return false;
        }
        return string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out IPAddress? ip) && IPAddress.IsLoopback(ip));
    }

    private static byte[] ReadResource(string name)
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourcePrefix + name)
            ?? throw new InvalidOperationException($"The playground file {name} is missing from the server assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static Task WriteFileAsync(HttpContext context, byte[] body, string contentType)
    {
        HttpResponse response = context.Response;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        response.Headers.CacheControl = "no-cache";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static Task NotFoundAsync(HttpContext context) => HttpIo.WriteErrorAsync(context, new ApiException(StatusCodes.Status404NotFound,
        $"No route {context.Request.Method} {context.Request.Path}; see /v1/completions, /v1/chat/completions, /v1/models, /health/live, /health/ready, /metrics.",
        null, "not_found"));
}
