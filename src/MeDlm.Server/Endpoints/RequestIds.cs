using System.Text.RegularExpressions;

namespace MeDlm.Server.Endpoints;

/// <summary>
/// Every request gets an id: the server's own (ASP.NET Core's trace identifier, which its log scope
/// already carries as <c>RequestId</c>), returned in <c>x-request-id</c> and used in completion ids. A
/// client's own <c>X-Request-Id</c>, when sane, is logged beside it as <c>ClientRequestId</c>.
/// </summary>
internal static partial class RequestIds
{
    private const string Header = "x-request-id";

    /// <summary>The id of <paramref name="context"/>'s request, as the log scope has it.</summary>
    public static string Current(HttpContext context) => context.TraceIdentifier;

    /// <summary>The middleware: response header and log scope.</summary>
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        string id = Current(context);
        context.Response.Headers[Header] = id;
        string? clientId = context.Request.Headers[Header].ToString();
        ILogger logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("MeDlm.Server.Requests");
        using IDisposable? scope = string.IsNullOrEmpty(clientId) || !SaneId().IsMatch(clientId)
            ? null
            : ClientScope(logger, clientId);
        await next(context).ConfigureAwait(false);
    }

    private static readonly Func<ILogger, string, IDisposable?> ClientScope =
        LoggerMessage.DefineScope<string>("ClientRequestId:{ClientRequestId}");

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex SaneId();
}
