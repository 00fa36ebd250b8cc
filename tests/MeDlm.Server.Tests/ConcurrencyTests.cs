namespace MeDlm.Server.Tests;

/// <summary>Many clients at once: all answered, batched together, each answer the same as alone.</summary>
public sealed class ConcurrencyTests
{
    private static readonly string[] Prompts =
    [
        "write add_k(items) with k = 13",
        "cal has 9 hats, gets 9 more and gives away 4. how many hats now?",
        "write sum_gt(vals) with k = 22",
        "max has 1 bags with 6 keys each. how many keys?",
        "write keep_lt(xs) with k = 8",
        "ivy has 9 cards and gives away 4. how many cards now?",
        "write max_k(ys) with k = 21",
        "hal has 5 bags with 3 pens each and 4 more pens. how many pens?",
    ];

    /// <summary>Request i of the 32: eight prompts, greedy and sampled, two lengths.</summary>
    private static string Body(int i) => JsonSerializer.Serialize(new
    {
        model = "medlm-tiny",
        messages = new[] { new { role = "user", content = Prompts[i % Prompts.Length] } },
        max_tokens = i % 4 == 3 ? 16 : 32,
        temperature = i % 2 == 0 ? 0.0 : 0.9,
        seed = 1000 + i,
    });

    [Fact]
    public async Task Thirty_two_concurrent_clients_are_all_answered_each_as_if_alone()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Scheduler:MaxBatchSize=32", "Scheduler:BatchWindowMilliseconds=50"]);
        const int Clients = 32;

        var alone = new string[Clients];
        for (int i = 0; i < Clients; i++)
        {
            alone[i] = Content(await server.PostOkAsync("v1/chat/completions", Body(i)));
        }

        using var start = new SemaphoreSlim(0);
        Task<(HttpStatusCode Status, string Body)>[] clients = [.. Enumerable.Range(0, Clients).Select(async i =>
        {
            // Each client has its own connection, as separate processes would.
            using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
            await start.WaitAsync();
            using HttpResponseMessage r = await http.PostAsync("v1/chat/completions", new StringContent(Body(i), System.Text.Encoding.UTF8, "application/json"));
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        })];
        start.Release(Clients);
        (HttpStatusCode Status, string Body)[] answers = await Task.WhenAll(clients);

        int largestBatch = 0;
        for (int i = 0; i < Clients; i++)
        {
            Assert.True(answers[i].Status == HttpStatusCode.OK, $"client {i}: {(int)answers[i].Status} {answers[i].Body}");
            JsonElement r = JsonDocument.Parse(answers[i].Body).RootElement;
            Assert.Equal(alone[i], Content(r));
            largestBatch = Math.Max(largestBatch, r.GetProperty("medlm")[0].GetProperty("batch_size").GetInt32());
        }
        Assert.True(largestBatch > 1, "No two requests shared a batch.");
        Assert.True(await server.MetricAsync("medlm_batch_size_max") > 1);
    }

    private static string Content(JsonElement r) => r.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    [Fact]
    public async Task A_short_request_joins_the_running_batch_and_does_not_wait_for_a_long_one()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Scheduler:MaxBatchSize=8", "Scheduler:BatchWindowMilliseconds=0"]);
        const string Long = """{"messages":[{"role":"user","content":"write keep_lt(xs) with k = 8"}],"max_tokens":96,"medlm":{"mask_steps":96,"edit_rounds":0}}""";
        const string Short = """{"messages":[{"role":"user","content":"write add_k(items) with k = 13"}],"max_tokens":16,"medlm":{"mask_steps":4,"edit_rounds":2}}""";
        string Content(JsonElement r) => r.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        string shortAlone = Content(await server.PostOkAsync("v1/chat/completions", Short));

        // The long request streams its denoising: its first steps say its batch is running.
        using var longClient = new RawHttpClient();
        await longClient.PostAsync(server.BaseAddress, "v1/chat/completions",
            """{"stream":true,"medlm":{"mask_steps":96,"edit_rounds":0,"stream_denoising":true},""" + Long[1..].Replace(""","medlm":{"mask_steps":96,"edit_rounds":0}""", "", StringComparison.Ordinal));
        await longClient.ReadLineStartingWithAsync("data: ", TimeSpan.FromSeconds(60));
        await longClient.ReadLineStartingWithAsync("data: ", TimeSpan.FromSeconds(60));

        JsonElement joined = await server.PostOkAsync("v1/chat/completions", Short);

        // It joined the running batch (2 sequences) instead of waiting for the long one's 96 passes, and
        // gave what it gives alone.
        Assert.Equal(2, joined.GetProperty("medlm")[0].GetProperty("batch_size").GetInt32());
        Assert.Equal(6, joined.GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32());
        Assert.Equal(shortAlone, Content(joined));
        // The long one still finishes.
        await longClient.ReadLineStartingWithAsync("data: [DONE]", TimeSpan.FromSeconds(120));
    }
}
