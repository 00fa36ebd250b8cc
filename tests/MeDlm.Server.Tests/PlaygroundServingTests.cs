using MeDlm.Server.Hosting;
using MeDlm.Server.Playground;

namespace MeDlm.Server.Tests;

/// <summary>
/// How the playground is served and switched, and the API fields it reads: the model's defaults, each
/// step's positions and changes, and the statistics on a stream's finish chunk.
/// </summary>
public sealed class PlaygroundServingTests
{
    [Fact]
    public async Task The_page_and_its_files_are_served_on_loopback_with_a_strict_policy_and_no_configuration_in_them()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Auth:ApiKey=pg-hidden-key", "Model:Id=pg-model"]);
        foreach ((string path, string type) in new[]
        {
            ("", "text/html"), ("playground/playground.js", "text/javascript"), ("playground/playground.css", "text/css"),
        })
        {
            using HttpResponseMessage r = await server.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(type, r.Content.Headers.ContentType?.MediaType);
            string csp = string.Join(";", r.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("connect-src 'self'", csp, StringComparison.Ordinal);
            Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
            string body = await r.Content.ReadAsStringAsync();
            // The files are the same whatever the configuration: no key, model id or path in them.
            Assert.DoesNotContain("pg-hidden-key", body, StringComparison.Ordinal);
            Assert.DoesNotContain("pg-model", body, StringComparison.Ordinal);
            Assert.DoesNotContain(RepoPaths.ModelPackagePath, body, StringComparison.Ordinal);
            // Nothing is fetched from another origin.
            Assert.DoesNotContain("http://", body, StringComparison.Ordinal);
            Assert.DoesNotContain("https://", body, StringComparison.Ordinal);
        }
        using HttpResponseMessage other = await server.Http.GetAsync("playground/medlm.json");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task Playground_Enabled_false_turns_the_page_off_and_the_api_stays()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Playground:Enabled=false"]);
        foreach (string path in new[] { "", "playground/playground.js", "playground/playground.css" })
        {
            using HttpResponseMessage r = await server.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.Equal("not_found", JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        using HttpResponseMessage models = await server.Http.GetAsync("v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
    }

    [Theory]
    [InlineData(null, new[] { "http://127.0.0.1:8080" }, true)]
    [InlineData(null, new[] { "http://[::1]:8080", "http://localhost:5000", "http://127.0.0.2:80" }, true)]
    [InlineData(null, new[] { "http://127.0.0.1:8080", "http://0.0.0.0:8080" }, false)]
    [InlineData(null, new[] { "http://[::]:8080" }, false)]
    [InlineData(null, new[] { "http://+:8080" }, false)]
    [InlineData(null, new[] { "http://*:8080" }, false)]
    [InlineData(null, new[] { "http://10.1.2.3:8080" }, false)]
    [InlineData(null, new string[0], false)]
    [InlineData(true, new[] { "http://0.0.0.0:8080" }, true)]
    [InlineData(false, new[] { "http://127.0.0.1:8080" }, false)]
    public void Unset_it_is_on_only_while_every_address_is_loopback(bool? enabled, string[] addresses, bool expected) =>
        Assert.Equal(expected, PlaygroundEndpoints.IsEnabled(new PlaygroundOptions { Enabled = enabled }, addresses));

    [Fact]
    public void A_value_that_is_not_a_boolean_stops_the_start_naming_the_key()
    {
        var e = Assert.ThrowsAny<Exception>(() => ServerApp.Build(["--Model:Path=" + RepoPaths.ModelPackagePath, "--Playground:Enabled=maybe"]));
        Assert.Contains("Playground:Enabled", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_model_card_carries_the_generation_defaults_and_the_special_token_texts()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync();
        JsonElement card = JsonDocument.Parse(await server.Http.GetStringAsync("v1/models/medlm-tiny")).RootElement.GetProperty("medlm");
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.ModelPackagePath, "medlm.json")));
        JsonElement g = manifest.RootElement.GetProperty("generation");
        Assert.Equal(g.GetProperty("gen_length").GetInt32(), card.GetProperty("gen_length").GetInt32());
        Assert.Equal(g.GetProperty("budget").GetDouble(), card.GetProperty("budget").GetDouble());
        Assert.Equal(g.GetProperty("edit_share").GetDouble(), card.GetProperty("edit_share").GetDouble());
        Assert.Equal(g.GetProperty("algorithm").GetString(), card.GetProperty("algorithm").GetString());
        Assert.Equal(g.GetProperty("temperature").GetDouble(), card.GetProperty("temperature").GetDouble());
        Assert.True(card.GetProperty("edit_head").GetBoolean());
        Assert.Equal(RepoPaths.ModelContextLength, card.GetProperty("context_length").GetInt32());
        Assert.Equal("<|mdm_mask|>", card.GetProperty("special_tokens").GetProperty("mask").GetString());
    }

    [Fact]
    public async Task Each_step_lists_its_positions_and_changes_and_the_finish_chunk_carries_the_answers_statistics()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync();
        const string Body = """{"messages":[{"role":"user","content":"write count_gt(data) with k = 7"}],"max_tokens":48,"medlm":{"budget":0.125""";
        JsonElement plain = await server.PostOkAsync("v1/chat/completions", Body + "}}");
        List<JsonElement> chunks = Sse.Chunks(await server.PostStreamAsync("v1/chat/completions", Body + ""","stream_denoising":true},"stream":true}"""));
        string mask = "<|mdm_mask|>";

        List<JsonElement> steps = [.. chunks.Where(c => c.TryGetProperty("medlm", out JsonElement m) && m.TryGetProperty("step", out _)).Select(c => c.GetProperty("medlm"))];
        string[] previous = [.. Enumerable.Repeat(mask, 48)];
        int replaced = 0;
        foreach (JsonElement step in steps)
        {
            string[] tokens = [.. step.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
            // The canvas is the positions' texts in order (the bundled vocabulary has no split characters).
            Assert.Equal(step.GetProperty("canvas").GetString(), string.Concat(tokens));
            Assert.Equal(step.GetProperty("masks_left").GetInt32(), tokens.Count(t => t == mask));
            JsonElement[] changes = [.. step.GetProperty("changes").EnumerateArray()];
            string stage = step.GetProperty("stage").GetString()!;
            if (stage == "mask")
            {
                Assert.Equal(48, tokens.Length);
                Assert.Equal(step.GetProperty("committed").GetInt32(), changes.Length);
                Assert.All(changes, c =>
                {
                    Assert.Equal("commit", c.GetProperty("kind").GetString());
                    Assert.Equal(mask, previous[c.GetProperty("position").GetInt32()]);
                    Assert.NotEqual(mask, tokens[c.GetProperty("position").GetInt32()]);
                });
            }
            else
            {
                JsonElement edits = step.GetProperty("edits");
                foreach (string kind in new[] { "replace", "delete", "insert" })
                {
                    Assert.Equal(edits.GetProperty(kind).GetInt32(), changes.Count(c => c.GetProperty("kind").GetString() == kind));
                }
                foreach (JsonElement c in changes.Where(c => c.GetProperty("kind").GetString() is "replace" or "delete"))
                {
                    int at = c.GetProperty("position").GetInt32();
                    string? old = c.GetProperty("old").GetString();
                    Assert.False(string.IsNullOrEmpty(old));
                    if (c.GetProperty("kind").GetString() == "delete")
                    {
                        Assert.Equal(previous[at], old);
                    }
                    else
                    {
                        Assert.NotEqual(old, tokens[at]);
                    }
                }
                if (stage == "edit")
                {
                    replaced += edits.GetProperty("replace").GetInt32();
                }
            }
            previous = tokens;
        }
        Assert.True(replaced >= 1);

        JsonElement finish = chunks.Single(c => c.GetProperty("choices").GetArrayLength() == 1
            && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        JsonElement streamed = finish.GetProperty("medlm");
        JsonElement expected = plain.GetProperty("medlm")[0];
        foreach (string key in new[] { "forward_passes", "mask_steps", "edit_rounds", "edit_rounds_saved", "batch_size" })
        {
            Assert.Equal(expected.GetProperty(key).GetInt32(), streamed.GetProperty(key).GetInt32());
        }
        Assert.Equal(expected.GetProperty("edits").GetRawText(), streamed.GetProperty("edits").GetRawText());
        Assert.True(streamed.GetProperty("generation_seconds").GetDouble() > 0);
    }
}
