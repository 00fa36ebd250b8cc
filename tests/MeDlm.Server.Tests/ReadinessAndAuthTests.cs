using MeDlm.Server.Hosting;

namespace MeDlm.Server.Tests;

/// <summary>Readiness before and after the model load; the optional API key.</summary>
public sealed class ReadinessAndAuthTests
{
    [Fact]
    public async Task Not_ready_until_the_model_has_loaded_and_warmed_up_while_alive_throughout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using LoopbackServer server = await LoopbackServer.StartAsync(waitReady: false, gate: new ModelLoadGate(release.Task));

        using (HttpResponseMessage live = await server.Http.GetAsync("health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }
        using (HttpResponseMessage ready = await server.Http.GetAsync("health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("loading", JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        }
        using (HttpResponseMessage early = await server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}"""))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, early.StatusCode);
            Assert.NotNull(early.Headers.RetryAfter);
            JsonElement error = JsonDocument.Parse(await early.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal("model_not_ready", error.GetProperty("code").GetString());
            Assert.Equal("server_error", error.GetProperty("type").GetString());
        }
        Assert.Equal(0, await server.MetricAsync("medlm_model_ready"));

        release.SetResult();
        await server.WaitReadyAsync(TimeSpan.FromSeconds(60));

        using (HttpResponseMessage ready = await server.Http.GetAsync("health/ready"))
        {
            JsonElement status = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("ready", status.GetProperty("status").GetString());
            Assert.Equal("medlm-tiny", status.GetProperty("model").GetString());
        }
        Assert.Equal(1, await server.MetricAsync("medlm_model_ready"));
        await server.PostOkAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":8}""");
    }

    [Fact]
    public async Task An_api_key_when_set_is_required_on_every_v1_route_and_nowhere_else()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Auth:ApiKey=s3cret-key"]);
        const string Chat = """{"messages":[{"role":"user","content":"hi"}],"max_tokens":8}""";

        foreach ((string? key, HttpStatusCode expected) in new (string?, HttpStatusCode)[]
        {
            (null, HttpStatusCode.Unauthorized), ("wrong", HttpStatusCode.Unauthorized), ("s3cret-key", HttpStatusCode.OK),
        })
        {
            foreach ((HttpMethod method, string path) in new[] { (HttpMethod.Get, "v1/models"), (HttpMethod.Post, "v1/chat/completions"), (HttpMethod.Post, "v1/completions") })
            {
                using var request = new HttpRequestMessage(method, path);
                if (method == HttpMethod.Post)
                {
                    request.Content = new StringContent(path.Contains("chat", StringComparison.Ordinal) ? Chat : """{"prompt":"x","max_tokens":4}""");
                }
                if (key is not null)
                {
                    request.Headers.Authorization = LoopbackServer.Bearer(key);
                }
                using HttpResponseMessage r = await server.Http.SendAsync(request);
                string body = await r.Content.ReadAsStringAsync();
                Assert.True(expected == r.StatusCode, $"{method} {path} with key {key ?? "(none)"}: {(int)r.StatusCode} {body}");
                if (expected == HttpStatusCode.Unauthorized)
                {
                    JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
                    Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
                    Assert.Equal("authentication_error", error.GetProperty("type").GetString());
                }
            }
        }
        foreach (string open in new[] { "health/live", "health/ready", "metrics" })
        {
            using HttpResponseMessage r = await server.Http.GetAsync(open);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        Assert.Equal(6, await server.MetricAsync("medlm_requests_rejected_total", "reason=\"unauthorized\""));
    }
}
