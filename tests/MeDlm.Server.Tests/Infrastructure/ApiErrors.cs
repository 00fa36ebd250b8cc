namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>The checks every refused request gets: OpenAI's error shape, and a server that stays healthy.</summary>
public static class ApiErrors
{
    /// <summary>The chat route, as the shared client's relative path.</summary>
    public const string Chat = "v1/chat/completions";

    /// <summary>The legacy completions route, as the shared client's relative path.</summary>
    public const string Completions = "v1/completions";

    /// <summary>
    /// <paramref name="r"/> is a <paramref name="status"/> whose OpenAI error has a message containing
    /// <paramref name="message"/>, the type <paramref name="type"/>, a <c>param</c> and a <c>code</c>; the
    /// error object is returned for the caller's own checks. <paramref name="name"/> names the case in failures.
    /// </summary>
    public static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage r, string name, int status, string message, string type = "invalid_request_error")
    {
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(status == (int)r.StatusCode, $"{name}: expected {status}, got {(int)r.StatusCode}: {body}");
        JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error").Clone();
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _), $"{name}: error lacks param/code: {body}");
        return error;
    }

    /// <summary>After a refusal the server still reports ready and has nothing queued.</summary>
    public static async Task AssertStillHealthyAsync(LoopbackServer server)
    {
        using HttpResponseMessage ready = await server.Http.GetAsync("health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(0, await server.MetricAsync("medlm_queue_depth"));
    }
}
