using System.Globalization;
using System.Net.Http.Headers;
using MeDlm.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>
/// A real server (Kestrel) in the test process on a free loopback port, built exactly as the service
/// builds itself; settings are the same keys as on the command line.
/// </summary>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(120) };
    }

    /// <summary>http://127.0.0.1:port/</summary>
    public Uri BaseAddress { get; }

    /// <summary>A client on <see cref="BaseAddress"/>.</summary>
    public HttpClient Http { get; }

    /// <summary>The server's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a server on the test model with <paramref name="settings"/> (<c>Key=Value</c> pairs) and,
    /// unless <paramref name="waitReady"/> is false, waits until it reports ready.
    /// </summary>
    public static async Task<LoopbackServer> StartAsync(string[]? settings = null, bool waitReady = true, ModelLoadGate? gate = null)
    {
        string[] args =
        [
            "--urls=http://127.0.0.1:0",
            "--Model:Path=" + RepoPaths.ModelPackagePath,
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
            .. (settings ?? []).Select(s => "--" + s),
            .. FileLoggerProvider.FromEnvironment() is null ? Array.Empty<string>() : ["--Logging:LogLevel:Default=Debug"],
        ];
        WebApplication app = ServerApp.Build(args, builder =>
        {
            if (gate is not null)
            {
                builder.Services.AddSingleton(gate);
            }
            if (FileLoggerProvider.FromEnvironment() is { } log)
            {
                builder.Logging.AddProvider(log);
            }
        });
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var server = new LoopbackServer(app, new Uri(address.TrimEnd('/') + "/"));
        if (waitReady)
        {
            await server.WaitReadyAsync(TimeSpan.FromSeconds(60));
        }
        return server;
    }

    /// <summary>Polls /health/ready until it answers 200.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            using HttpResponseMessage r = await Http.GetAsync("health/ready", cts.Token);
            if (r.StatusCode == HttpStatusCode.OK)
            {
                return;
            }
            await Task.Delay(50, cts.Token);
        }
    }

    /// <summary>POSTs <paramref name="json"/> to <paramref name="path"/>.</summary>
    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, CancellationToken ct = default) =>
        Http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), ct);

    /// <summary>POSTs <paramref name="body"/> as it is, bytes labelled <c>application/json</c>.</summary>
    public async Task<HttpResponseMessage> PostJsonBytesAsync(string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return await Http.PostAsync(path, content);
    }

    /// <summary>POSTs and parses the answer, asserting 200.</summary>
    public async Task<JsonElement> PostOkAsync(string path, string json)
    {
        using HttpResponseMessage r = await PostJsonAsync(path, json);
        string body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{path} answered {(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Sends a streaming request and returns every <c>data:</c> payload, [DONE] included.</summary>
    public async Task<List<string>> PostStreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using HttpResponseMessage r = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        return await Sse.ReadAllAsync(await r.Content.ReadAsStreamAsync());
    }

    /// <summary>The value of a Prometheus sample (summed over label sets that contain <paramref name="labels"/>).</summary>
    public async Task<double> MetricAsync(string name, string labels = "")
    {
        string text = await Http.GetStringAsync("metrics");
        return PrometheusText.Sum(text, name, labels);
    }

    /// <summary>An API-key header value.</summary>
    public static AuthenticationHeaderValue Bearer(string key) => new("Bearer", key);

    /// <summary>Stops the server gracefully.</summary>
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Reads samples out of Prometheus text.</summary>
public static class PrometheusText
{
    /// <summary>Sum of the samples of <paramref name="name"/> whose label text contains <paramref name="labels"/>.</summary>
    public static double Sum(string text, string name, string labels = "")
    {
        double sum = 0;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }
            string rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != ' ' && rest[0] != '{'))
            {
                continue;
            }
            int space = rest.LastIndexOf(' ');
            string labelText = rest[..space];
            if (labels.Length > 0 && !labelText.Contains(labels, StringComparison.Ordinal))
            {
                continue;
            }
            sum += double.Parse(rest[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return sum;
    }
}
