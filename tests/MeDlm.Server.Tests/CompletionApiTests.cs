namespace MeDlm.Server.Tests;

/// <summary>The OpenAI endpoints answered with raw HTTP: shapes, usage, settings, stop, seed, streaming.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class CompletionApiTests(SharedServer shared)
{
    private LoopbackServer Server => shared.Server;

    [Fact]
    public async Task Completion_answers_in_openai_shape_with_usage_and_diffusion_stats()
    {
        JsonElement r = await Server.PostOkAsync("v1/completions", """{"model":"medlm-tiny","prompt":"def add(a, b):","max_tokens":24}""");

        Assert.StartsWith("cmpl-", r.GetProperty("id").GetString());
        Assert.Equal("text_completion", r.GetProperty("object").GetString());
        Assert.Equal("medlm-tiny", r.GetProperty("model").GetString());
        Assert.True(r.GetProperty("created").GetInt64() > 1_600_000_000);
        JsonElement choice = Assert.Single(r.GetProperty("choices").EnumerateArray());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal(JsonValueKind.String, choice.GetProperty("text").ValueKind);
        Assert.Contains(choice.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        JsonElement usage = r.GetProperty("usage");
        int prompt = usage.GetProperty("prompt_tokens").GetInt32();
        int completion = usage.GetProperty("completion_tokens").GetInt32();
        Assert.True(prompt > 0);
        Assert.InRange(completion, 0, 24);
        Assert.Equal(prompt + completion, usage.GetProperty("total_tokens").GetInt32());
        JsonElement stats = Assert.Single(r.GetProperty("medlm").EnumerateArray());
        Assert.True(stats.GetProperty("forward_passes").GetInt32() > 0);
        Assert.True(stats.GetProperty("batch_size").GetInt32() >= 1);
    }

    [Fact]
    public async Task Chat_answers_in_openai_shape()
    {
        JsonElement r = await Server.PostOkAsync("v1/chat/completions",
            """{"model":"medlm-tiny","messages":[{"role":"system","content":"You solve small tasks."},{"role":"user","content":"eve has 1 coins and gets 1 more. how many coins now?"}],"max_tokens":32}""");

        Assert.StartsWith("chatcmpl-", r.GetProperty("id").GetString());
        Assert.Equal("chat.completion", r.GetProperty("object").GetString());
        JsonElement choice = Assert.Single(r.GetProperty("choices").EnumerateArray());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.String, choice.GetProperty("message").GetProperty("content").ValueKind);
        Assert.True(r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 10);
    }

    [Fact]
    public async Task Several_prompts_give_one_choice_each_in_order()
    {
        JsonElement r = await Server.PostOkAsync("v1/completions", """{"prompt":["x = 1","y = 2","z = 3"],"max_tokens":8}""");
        JsonElement[] choices = [.. r.GetProperty("choices").EnumerateArray()];
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        for (int i = 0; i < 3; i++)
        {
            string prompt = new[] { "x = 1", "y = 2", "z = 3" }[i];
            JsonElement alone = await Server.PostOkAsync("v1/completions", JsonSerializer.Serialize(new { prompt, max_tokens = 8 }));
            Assert.Equal(alone.GetProperty("choices")[0].GetProperty("text").GetString(), choices[i].GetProperty("text").GetString());
        }
    }

    [Fact]
    public async Task Echo_returns_the_prompt_before_the_completion()
    {
        JsonElement plain = await Server.PostOkAsync("v1/completions", """{"prompt":"total = 0","max_tokens":8}""");
        JsonElement echoed = await Server.PostOkAsync("v1/completions", """{"prompt":"total = 0","max_tokens":8,"echo":true}""");
        Assert.Equal("total = 0" + plain.GetProperty("choices")[0].GetProperty("text").GetString(), echoed.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Max_tokens_bounds_the_answer_and_the_diffusion_settings_are_used()
    {
        JsonElement r = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":16,"medlm":{"mask_steps":8,"edit_rounds":3,"algorithm":"medlm"}}""");
        Assert.InRange(r.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 0, 16);
        JsonElement stats = r.GetProperty("medlm")[0];
        Assert.Equal(8, stats.GetProperty("mask_steps").GetInt32());
        Assert.InRange(stats.GetProperty("edit_rounds").GetInt32(), 0, 3);
        Assert.Equal(3, stats.GetProperty("edit_rounds").GetInt32() + stats.GetProperty("edit_rounds_saved").GetInt32());

        JsonElement budget = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":16,"medlm":{"budget":"1/4"}}""");
        JsonElement b = budget.GetProperty("medlm")[0];
        Assert.Equal(4, b.GetProperty("mask_steps").GetInt32() + b.GetProperty("edit_rounds").GetInt32() + b.GetProperty("edit_rounds_saved").GetInt32());
        // Every spelling of the library's budget syntax plans the same passes.
        foreach (string written in new[] { "\"25%\"", "\"0.25\"", "0.25" })
        {
            JsonElement same = await Server.PostOkAsync("v1/chat/completions",
                $$$"""{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":16,"medlm":{"budget":{{{written}}}}}""");
            Assert.Equal(b.GetProperty("forward_passes").GetInt32(), same.GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32());
        }

        JsonElement blocks = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":16,"medlm":{"algorithm":"low_confidence","block_length":8,"mask_steps":8,"edit_rounds":0}}""");
        Assert.Equal(8, blocks.GetProperty("medlm")[0].GetProperty("forward_passes").GetInt32());

        JsonElement threshold = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":16,"medlm":{"algorithm":"threshold","threshold":0.5,"edit_rounds":0}}""");
        Assert.InRange(threshold.GetProperty("medlm")[0].GetProperty("mask_steps").GetInt32(), 1, 16);

        // The budget-free adaptive mode: threshold stage 1, the early switch, gated edit rounds up to a cap of 8.
        JsonElement adaptive = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":48,"medlm":{"algorithm":"threshold","threshold":0.9,"switch_threshold":0.6,"edit_rounds":8,"edit_threshold":0.8}}""");
        JsonElement a = adaptive.GetProperty("medlm")[0];
        Assert.InRange(a.GetProperty("mask_steps").GetInt32(), 1, 48);
        Assert.InRange(a.GetProperty("edit_rounds").GetInt32(), 1, 8);
        Assert.Equal(8, a.GetProperty("edit_rounds").GetInt32() + a.GetProperty("edit_rounds_saved").GetInt32());
        JsonElement plain = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write mul_k(vals) with k = 4"}],"max_tokens":48,"medlm":{"algorithm":"threshold","threshold":0.9,"edit_rounds":8}}""");
        Assert.True(a.GetProperty("mask_steps").GetInt32() <= plain.GetProperty("medlm")[0].GetProperty("mask_steps").GetInt32());
    }

    [Fact]
    public async Task Budget_auto_runs_the_models_measured_setting()
    {
        // The bundled manifest's generation.auto, written out as explicit medlm fields (its keys are their wire names).
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.RepoRoot, RepoPaths.ModelPackage, "medlm.json")));
        JsonElement auto = manifest.RootElement.GetProperty("generation").GetProperty("auto");
        var fields = new List<string>();
        foreach (JsonProperty p in auto.EnumerateObject())
        {
            fields.Add($"\"{p.Name}\":{p.Value.GetRawText()}");
        }
        const string Messages = "\"messages\":[{\"role\":\"user\",\"content\":\"write mul_k(vals) with k = 4\"}],\"max_tokens\":48";
        JsonElement viaAuto = await Server.PostOkAsync("v1/chat/completions", "{" + Messages + ",\"medlm\":{\"budget\":\"auto\"}}");
        JsonElement spelled = await Server.PostOkAsync("v1/chat/completions", "{" + Messages + ",\"medlm\":{" + string.Join(',', fields) + "}}");
        Assert.Equal(spelled.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            viaAuto.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        JsonElement a = viaAuto.GetProperty("medlm")[0], s = spelled.GetProperty("medlm")[0];
        foreach (string key in new[] { "forward_passes", "mask_steps", "edit_rounds", "edit_rounds_saved" })
        {
            Assert.Equal(s.GetProperty(key).GetInt32(), a.GetProperty(key).GetInt32());
        }
    }

    [Fact]
    public async Task Stop_cuts_the_text_before_the_first_stop_sequence()
    {
        const string Body = """{"messages":[{"role":"user","content":"write add_k(items) with k = 13"}],"max_tokens":48}""";
        JsonElement full = await Server.PostOkAsync("v1/chat/completions", Body);
        string text = full.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.True(text.Length >= 6, $"The answer is too short to cut: \"{text}\"");
        string stop = text.Substring(text.Length / 2, 2);
        string expected = text[..text.IndexOf(stop, StringComparison.Ordinal)];

        JsonElement cut = await Server.PostOkAsync("v1/chat/completions",
            Body.TrimEnd('}') + "," + JsonSerializer.Serialize(new { stop = new[] { "\u0001never\u0001", stop } }).TrimStart('{'));

        JsonElement choice = cut.GetProperty("choices")[0];
        Assert.Equal(expected, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Finish_reason_is_length_when_the_answer_is_cut_by_max_tokens()
    {
        // A function does not fit in 6 tokens; in 48 the model closes it with END itself.
        JsonElement cut = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write add_k(items) with k = 13"}],"max_tokens":6}""");
        JsonElement whole = await Server.PostOkAsync("v1/chat/completions",
            """{"messages":[{"role":"user","content":"write add_k(items) with k = 13"}],"max_tokens":48}""");

        Assert.Equal("length", cut.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.InRange(cut.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 6);
        Assert.Equal("stop", whole.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.InRange(whole.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 46);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_sampled_answer()
    {
        const string Body = """{"messages":[{"role":"user","content":"write sum_gt(vals) with k = 22"}],"max_tokens":24,"temperature":1.0,"seed":1234}""";
        JsonElement a = await Server.PostOkAsync("v1/chat/completions", Body);
        JsonElement b = await Server.PostOkAsync("v1/chat/completions", Body);
        Assert.Equal(a.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            b.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task Chat_stream_chunks_parse_as_openai_chunks_and_concatenate_to_the_plain_answer()
    {
        const string Body = """{"messages":[{"role":"user","content":"write max_k(ys) with k = 21"}],"max_tokens":32,"temperature":0.8,"seed":99""";
        JsonElement plain = await Server.PostOkAsync("v1/chat/completions", Body + "}");
        List<JsonElement> chunks = Sse.Chunks(await Server.PostStreamAsync("v1/chat/completions", Body + ""","stream":true,"stream_options":{"include_usage":true}}"""));

        string id = chunks[0].GetProperty("id").GetString()!;
        foreach (JsonElement c in chunks)
        {
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
            Assert.Equal(id, c.GetProperty("id").GetString());
            Assert.Equal("medlm-tiny", c.GetProperty("model").GetString());
        }
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(plain.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), Sse.ChatText(chunks));
        JsonElement finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal(plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), finish.GetProperty("finish_reason").GetString());
        JsonElement usageChunk = chunks[^1];
        Assert.Empty(usageChunk.GetProperty("choices").EnumerateArray());
        Assert.Equal(plain.GetProperty("usage").GetRawText(), usageChunk.GetProperty("usage").GetRawText());
    }

    [Fact]
    public async Task Completion_stream_concatenates_to_the_plain_answer_for_every_prompt()
    {
        const string Body = """{"prompt":["def f(x):","for i in range(3):"],"max_tokens":24""";
        JsonElement plain = await Server.PostOkAsync("v1/completions", Body + "}");
        List<JsonElement> chunks = Sse.Chunks(await Server.PostStreamAsync("v1/completions", Body + ""","stream":true}"""));
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(plain.GetProperty("choices")[i].GetProperty("text").GetString(), Sse.CompletionText(chunks, i));
        }
    }

    [Fact]
    public async Task A_stream_can_carry_the_denoising_steps_and_their_edits()
    {
        const string Body = """{"messages":[{"role":"user","content":"write count_eq(ys) with k = 7"}],"max_tokens":16,"medlm":{"mask_steps":8,"edit_rounds":4""";
        JsonElement plain = await Server.PostOkAsync("v1/chat/completions", Body + "}}");
        List<JsonElement> chunks = Sse.Chunks(await Server.PostStreamAsync("v1/chat/completions", Body + ""","stream_denoising":true},"stream":true}"""));

        // Step chunks (the finish chunk's medlm field holds the statistics instead).
        List<JsonElement> steps = [.. chunks.Where(c => c.TryGetProperty("medlm", out JsonElement m) && m.TryGetProperty("step", out _)).Select(c => c.GetProperty("medlm"))];
        List<JsonElement> maskSteps = [.. steps.Where(s => s.GetProperty("stage").GetString() == "mask")];
        Assert.Equal(8, maskSteps.Count);
        Assert.Equal(Enumerable.Range(1, 8), maskSteps.Select(s => s.GetProperty("step").GetInt32()));
        Assert.Equal(0, maskSteps[^1].GetProperty("masks_left").GetInt32());
        Assert.Equal(16, maskSteps.Sum(s => s.GetProperty("committed").GetInt32()));
        Assert.All(steps, s => Assert.Equal(JsonValueKind.String, s.GetProperty("canvas").ValueKind));
        int editRounds = plain.GetProperty("medlm")[0].GetProperty("edit_rounds").GetInt32();
        List<JsonElement> edits = [.. steps.Where(s => s.GetProperty("stage").GetString() == "edit")];
        Assert.Equal(editRounds, edits.Count);
        Assert.All(edits, s => Assert.True(s.GetProperty("edits").GetProperty("replace").GetInt32() >= 0));
        // The text itself is the same as without the steps.
        Assert.Equal(plain.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), Sse.ChatText(chunks));
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        JsonElement list = JsonDocument.Parse(await Server.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", list.GetProperty("object").GetString());
        JsonElement model = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal("medlm-tiny", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());

        using HttpResponseMessage one = await Server.Http.GetAsync("v1/models/medlm-tiny");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using HttpResponseMessage missing = await Server.Http.GetAsync("v1/models/gpt-4");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Metrics_export_prometheus_text_with_the_server_series()
    {
        await Server.PostOkAsync("v1/completions", """{"prompt":"a = 1","max_tokens":8}""");
        using HttpResponseMessage r = await Server.Http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.StartsWith("text/plain", r.Content.Headers.ContentType?.ToString());
        string text = await r.Content.ReadAsStringAsync();
        foreach (string series in new[]
        {
            "medlm_request_duration_seconds_bucket", "medlm_time_to_first_chunk_seconds", "medlm_forward_passes_per_sequence_bucket",
            "medlm_tokens_per_forward_pass_bucket", "medlm_edits_total", "medlm_edit_rounds_saved_total", "medlm_queue_depth",
            "medlm_batch_size_bucket", "medlm_requests_rejected_total", "medlm_requests_cancelled_total", "medlm_model_ready",
            "process_working_set_bytes",
        })
        {
            Assert.Contains(series, text);
        }
        Assert.True(PrometheusText.Sum(text, "medlm_request_duration_seconds_count", "endpoint=\"completions\"") >= 1);
        Assert.Equal(1, PrometheusText.Sum(text, "medlm_model_ready"));
    }

    [Fact]
    public async Task Every_answer_carries_a_request_id_that_the_completion_id_repeats()
    {
        using HttpResponseMessage live = await Server.Http.GetAsync("health/live");
        Assert.False(string.IsNullOrWhiteSpace(live.Headers.GetValues("x-request-id").Single()));

        using HttpResponseMessage r = await Server.PostJsonAsync("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}""");
        string requestId = r.Headers.GetValues("x-request-id").Single();
        JsonElement body = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("chatcmpl-" + requestId, body.GetProperty("id").GetString());
    }
}
