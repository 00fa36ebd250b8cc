namespace MeDlm.Server.Tests;

/// <summary>A full queue answers 429; a client that leaves is cancelled without disturbing its batch.</summary>
public sealed class QueueAndCancellationTests
{
    // Long enough (many passes) that a batch is still running while the test acts on it.
    private const string LongBody = """{"messages":[{"role":"user","content":"write keep_lt(xs) with k = 8"}],"max_tokens":64,"medlm":{"mask_steps":64,"edit_rounds":0}}""";

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_the_accepted_requests_finish()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(
            ["Scheduler:MaxBatchSize=1", "Scheduler:QueueCapacity=2", "Scheduler:BatchWindowMilliseconds=0", "Scheduler:RetryAfterSeconds=3"]);
        const int Clients = 12;

        Task<HttpResponseMessage>[] sends = [.. Enumerable.Range(0, Clients).Select(_ => server.PostJsonAsync("v1/chat/completions", LongBody))];
        HttpResponseMessage[] answers = await Task.WhenAll(sends);

        int ok = 0, rejected = 0;
        foreach (HttpResponseMessage r in answers)
        {
            string body = await r.Content.ReadAsStringAsync();
            if (r.StatusCode == HttpStatusCode.TooManyRequests)
            {
                rejected++;
                Assert.Equal(TimeSpan.FromSeconds(3), r.Headers.RetryAfter?.Delta);
                JsonElement error = JsonDocument.Parse(body).RootElement.GetProperty("error");
                Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());
                Assert.Equal("queue_full", error.GetProperty("code").GetString());
                Assert.Contains("queue", error.GetProperty("message").GetString());
            }
            else
            {
                Assert.True(r.StatusCode == HttpStatusCode.OK, body);
                ok++;
            }
            r.Dispose();
        }
        Assert.True(rejected >= 1, "Nothing was rejected.");
        // At least the queue's two places were served (a third when the first had left the queue in time).
        Assert.True(ok >= 2, $"Only {ok} requests were served.");
        Assert.Equal(Clients, ok + rejected);
        Assert.Equal(rejected, await server.MetricAsync("medlm_requests_rejected_total", "reason=\"queue_full\""));
        // The server is healthy afterwards.
        await server.PostOkAsync("v1/chat/completions", LongBody);
    }

    [Fact]
    public async Task A_client_that_disconnects_is_cancelled_at_the_next_step_and_its_batch_finishes()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Scheduler:MaxBatchSize=8", "Scheduler:BatchWindowMilliseconds=1000"]);
        // A and C plan 40 passes, B 64: B, the one that leaves, would be the last to finish, so its
        // cancellation is seen while its row still runs, however slow the machine.
        string Body(string task, int passes) => LongBody.Replace("write keep_lt(xs) with k = 8", task, StringComparison.Ordinal)
            .Replace("\"max_tokens\":64", $"\"max_tokens\":{passes}", StringComparison.Ordinal)
            .Replace("\"mask_steps\":64", $"\"mask_steps\":{passes}", StringComparison.Ordinal);
        string aloneA = Content(await server.PostOkAsync("v1/chat/completions", Body("write keep_lt(xs) with k = 8", 40)));
        string aloneC = Content(await server.PostOkAsync("v1/chat/completions", Body("hal has 5 bags with 3 pens each and 4 more pens. how many pens?", 40)));

        // A and C stay; B streams and vanishes (connection reset) once its batch has started (its first chunk).
        Task<JsonElement> a = server.PostOkAsync("v1/chat/completions", Body("write keep_lt(xs) with k = 8", 40));
        using var b = new RawHttpClient();
        await b.PostAsync(server.BaseAddress, "v1/chat/completions", """{"stream":true,""" + Body("write count_gt(data) with k = 29", 64)[1..]);
        Task<JsonElement> c = server.PostOkAsync("v1/chat/completions", Body("hal has 5 bags with 3 pens each and 4 more pens. how many pens?", 40));
        await b.ReadLineStartingWithAsync("data: ", TimeSpan.FromSeconds(60));
        b.Vanish();

        JsonElement[] finished = await Task.WhenAll(a, c);
        Assert.Equal(aloneA, Content(finished[0]));
        Assert.Equal(aloneC, Content(finished[1]));
        // B shared their batch and left it; they ran all their passes.
        Assert.Equal(3, finished[0].GetProperty("medlm")[0].GetProperty("batch_size").GetInt32());
        Assert.Equal(40, finished[0].GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32());
        Assert.Equal(40, finished[1].GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32());
        await WaitForAsync(async () => await server.MetricAsync("medlm_requests_cancelled_total", "stage=\"running\"") == 1);
        Assert.Equal(1, await server.MetricAsync("medlm_request_duration_seconds_count", "status=\"499\""));
        // And the server is healthy.
        using HttpResponseMessage ready = await server.Http.GetAsync("health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task A_client_that_disconnects_while_queued_is_dropped_from_the_queue()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Scheduler:MaxBatchSize=1", "Scheduler:BatchWindowMilliseconds=0"]);
        // A deep backlog ahead (one sequence at a time; a request of the tiny model runs in tens of ms), so the
        // leaving request is certainly still queued when it leaves: it cannot start before the backlog has run.
        Task<JsonElement>[] waiting = [.. Enumerable.Range(0, 48).Select(_ => server.PostOkAsync("v1/chat/completions", LongBody))];
        await WaitForAsync(async () => await server.MetricAsync("medlm_queue_depth") >= 24);

        using var leaving = new CancellationTokenSource();
        using var leavingClient = new HttpClient { BaseAddress = server.BaseAddress };
        Task<HttpResponseMessage> queued = leavingClient.PostAsync("v1/chat/completions", new StringContent(LongBody, Encoding.UTF8, "application/json"), leaving.Token);
        await Task.Delay(200);
        Assert.False(queued.IsCompleted);
        leaving.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);

        await Task.WhenAll(waiting);
        await WaitForAsync(async () => await server.MetricAsync("medlm_requests_cancelled_total", "stage=\"queued\"") == 1);
        Assert.Equal(0, await server.MetricAsync("medlm_queue_depth"));
        Assert.Equal(0, await server.MetricAsync("medlm_requests_cancelled_total", "stage=\"running\""));
    }

    private static string Content(JsonElement r) => r.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    internal static async Task WaitForAsync(Func<Task<bool>> condition, int seconds = 30)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (!await condition())
        {
            Assert.False(cts.IsCancellationRequested, $"The condition did not hold within {seconds} s.");
            await Task.Delay(20, CancellationToken.None);
        }
    }
}
