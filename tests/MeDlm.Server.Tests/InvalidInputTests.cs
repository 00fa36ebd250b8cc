namespace MeDlm.Server.Tests;

/// <summary>Bad requests: each answered 4xx with a clear OpenAI-shaped error, and the server stays healthy.</summary>
[Collection(SharedServerCollection.Name)]
public sealed class InvalidInputTests(SharedServer shared)
{
    private const string Chat = ApiErrors.Chat;
    private const string Completions = ApiErrors.Completions;

    /// <summary>name, route, body, expected status, words the message must contain, the param named (or null).</summary>
    public static TheoryData<string, string, string, int, string, string?> Cases() => new()
    {
        { "malformed JSON", Chat, """{"messages": [{"role":"user","content":"hi"}""", 400, "not valid JSON", null },
        { "not an object", Chat, """[1, 2, 3]""", 400, "must be a JSON object", null },
        { "empty body", Chat, "", 400, "body is empty", null },
        { "trailing garbage", Completions, """{"prompt":"x"} extra""", 400, "not valid JSON", null },
        { "messages of the wrong type", Chat, """{"messages":"hello"}""", 400, "messages must be an array", "messages" },
        { "max_tokens of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}""", 400, "max_tokens must be an integer", "max_tokens" },
        { "fractional max_tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2.5}""", 400, "max_tokens must be an integer", "max_tokens" },
        { "temperature of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", 400, "temperature must be a number", "temperature" },
        { "stream of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", 400, "stream must be true or false", "stream" },
        { "content of the wrong type", Chat, """{"messages":[{"role":"user","content":42}]}""", 400, "content must be a string", "messages[0].content" },
        { "seed of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"seed":"abc"}""", 400, "seed must be an integer", "seed" },
        { "negative max_tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":-5}""", 400, "max_tokens must be between 1 and", "max_tokens" },
        { "zero max_tokens", Completions, """{"prompt":"x","max_tokens":0}""", 400, "max_tokens must be between 1 and", "max_tokens" },
        { "huge max_tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":100000}""", 400, "max_tokens must be between 1 and", "max_tokens" },
        { "astronomic max_tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":1e30}""", 400, "out of range", "max_tokens" },
        { "astronomic seed", Chat, """{"messages":[{"role":"user","content":"hi"}],"seed":123456789012345678901234567890}""", 400, "seed must be an integer within 64 bits", "seed" },
        { "negative temperature", Chat, """{"messages":[{"role":"user","content":"hi"}],"temperature":-1}""", 400, "temperature must be between 0 and 2", "temperature" },
        { "huge temperature", Chat, """{"messages":[{"role":"user","content":"hi"}],"temperature":50}""", 400, "temperature must be between 0 and 2", "temperature" },
        { "negative mask steps", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"mask_steps":-1}}""", 400, "medlm.mask_steps must be positive (got -1)", "medlm.mask_steps" },
        { "negative edit rounds", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"edit_rounds":-2}}""", 400, "medlm.edit_rounds must not be negative", "medlm.edit_rounds" },
        { "huge edit rounds", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"edit_rounds":1000000}}""", 400, "forward passes", "medlm.edit_rounds" },
        { "more mask steps than tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"medlm":{"mask_steps":9}}""", 400, "medlm.mask_steps 9 exceeds max_tokens 8", "medlm.mask_steps" },
        { "zero budget", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"budget":0}}""", 400, "medlm.budget must be in (0, 1]", "medlm.budget" },
        { "budget neither a fraction nor auto", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"budget":"automatic"}}""", 400, "or auto)", "medlm.budget" },
        { "budget of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"budget":"lots"}}""", 400, "'lots' is not a budget", "medlm.budget" },
        { "block length not dividing", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":16,"medlm":{"block_length":5}}""", 400, "max_tokens 16 is not divisible by medlm.block_length 5", "medlm.block_length" },
        { "unknown algorithm", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"algorithm":"beam"}}""", 400, "is not one of medlm, low_confidence, random, threshold", "medlm.algorithm" },
        { "threshold out of range", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"algorithm":"threshold","threshold":1.5}}""", 400, "medlm.threshold must be in (0, 1]", "medlm.threshold" },
        { "edit threshold out of range", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"edit_threshold":1.2}}""", 400, "medlm.edit_threshold must be in [0, 1]", "medlm.edit_threshold" },
        { "edit threshold of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"edit_threshold":"high"}}""", 400, "medlm.edit_threshold must be a number", "medlm.edit_threshold" },
        { "negative switch threshold", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"switch_threshold":-0.1}}""", 400, "medlm.switch_threshold must be in [0, 1]", "medlm.switch_threshold" },
        { "switch threshold with random remasking", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"algorithm":"random","switch_threshold":0.5}}""", 400, "medlm.switch_threshold compares confidences", "medlm.switch_threshold" },
        { "unknown medlm setting", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"steps":4}}""", 400, "medlm.steps is not a known setting", "medlm.steps" },
        { "medlm not an object", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":"fast"}""", 400, "medlm must be an object", "medlm" },
        { "unknown model", Chat, """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""", 404, "The model 'gpt-4o' does not exist", "model" },
        { "unknown model on completions", Completions, """{"model":"davinci","prompt":"x"}""", 404, "does not exist", "model" },
        { "empty messages", Chat, """{"messages":[]}""", 400, "messages must hold at least one message", "messages" },
        { "missing messages", Chat, """{"model":"medlm-tiny"}""", 400, "messages is required", "messages" },
        { "message without a role", Chat, """{"messages":[{"content":"hi"}]}""", 400, "messages[0].role is required", "messages[0].role" },
        { "unsupported role", Chat, """{"messages":[{"role":"tool","content":"42"}]}""", 400, "messages[0].role \"tool\" is not supported", "messages[0].role" },
        { "image content", Chat, """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "reads text only", "messages[0].content[0].type" },
        { "missing prompt", Completions, """{"max_tokens":4}""", 400, "prompt is required", "prompt" },
        { "empty prompt", Completions, """{"prompt":""}""", 400, "prompt must not be empty", "prompt" },
        { "token-id prompt", Completions, """{"prompt":[1,2,3]}""", 400, "token-id prompts are not supported", "prompt" },
        { "too many prompts", Completions, """{"prompt":["a","b","c","d","e","f","g","h","i"]}""", 400, "at most 8 are allowed", "prompt" },
        { "prompt over the context", Completions, JsonSerializer.Serialize(new { prompt = string.Join(' ', Enumerable.Repeat("word", RepoPaths.ModelContextLength)), max_tokens = 8 }), 400, "maximum context length is", "prompt" },
        { "messages over the context", Chat, JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = string.Join(' ', Enumerable.Repeat("total", RepoPaths.ModelContextLength - 20)) } } }), 400, "maximum context length is", "messages" },
        { "too many stop sequences", Chat, """{"messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}""", 400, "at most 4 are allowed", "stop" },
        { "empty stop sequence", Chat, """{"messages":[{"role":"user","content":"hi"}],"stop":[""]}""", 400, "must not be empty", "stop" },
        { "stop of the wrong type", Chat, """{"messages":[{"role":"user","content":"hi"}],"stop":7}""", 400, "stop must be a string or an array", "stop" },
        { "n above 1", Chat, """{"messages":[{"role":"user","content":"hi"}],"n":3}""", 400, "n other than 1 is not supported", "n" },
        { "tools", Chat, """{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}""", 400, "tools (function calling) are not supported", "tools" },
        { "logprobs", Completions, """{"prompt":"x","logprobs":5}""", 400, "logprobs are not supported", "logprobs" },
        { "top_p", Chat, """{"messages":[{"role":"user","content":"hi"}],"top_p":0.5}""", 400, "are Dream settings", "top_p" },
        { "conflicting max tokens", Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"max_completion_tokens":9}""", 400, "disagree", "max_completion_tokens" },
        { "a file name in a field", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"model_path":"/etc/passwd"}}""", 400, "is not a known setting", "medlm.model_path" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_is_answered_with_a_clear_error_and_changes_nothing(string name, string route, string body, int status, string message, string? param)
    {
        using HttpResponseMessage r = await shared.Server.PostJsonAsync(route, body);
        await AssertErrorAsync(r, name, status, message, param);
        await AssertStillHealthyAsync();
    }

    [Fact]
    public async Task An_oversized_body_is_answered_413()
    {
        // With a Content-Length: refused before the body is read (Expect: 100-continue keeps the client
        // from sending what the server will not read).
        string huge = JsonSerializer.Serialize(new { prompt = new string('a', 2 << 20) });
        using var declared = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new StringContent(huge, Encoding.UTF8, "application/json") };
        declared.Headers.ExpectContinue = true;
        using HttpResponseMessage r = await shared.Server.Http.SendAsync(declared);
        await AssertErrorAsync(r, "oversized body", 413, "the limit is 1048576 bytes", null);

        // Chunked, without a Content-Length: the same limit while reading.
        string over = JsonSerializer.Serialize(new { prompt = new string('a', (1 << 20) + 1000) });
        using var chunked = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = new PushStreamContent(over) };
        using HttpResponseMessage c = await shared.Server.Http.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, c.StatusCode);
        await AssertStillHealthyAsync();
    }

    [Fact]
    public async Task Invalid_utf8_is_answered_400()
    {
        byte[] bytes = [.. Encoding.UTF8.GetBytes("""{"prompt":" """), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("\"}")];
        using HttpResponseMessage r = await shared.Server.PostJsonBytesAsync(Completions, bytes);
        await AssertErrorAsync(r, "invalid UTF-8", 400, "not valid UTF-8", null);
        await AssertStillHealthyAsync();
    }

    [Fact]
    public async Task Unknown_routes_and_methods_are_answered_in_the_same_shape()
    {
        using HttpResponseMessage r = await shared.Server.Http.GetAsync("v1/embeddings");
        await AssertErrorAsync(r, "unknown route", 404, "No route GET /v1/embeddings", null);
        using HttpResponseMessage m = await shared.Server.Http.GetAsync("v1/chat/completions");
        Assert.True((int)m.StatusCode is 404 or 405);
    }

    private static async Task AssertErrorAsync(HttpResponseMessage r, string name, int status, string message, string? param)
    {
        JsonElement error = await ApiErrors.AssertErrorAsync(r, name, status, message);
        if (param is not null)
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }
    }

    private Task AssertStillHealthyAsync() => ApiErrors.AssertStillHealthyAsync(shared.Server);

    /// <summary>A body sent chunked (no Content-Length).</summary>
    private sealed class PushStreamContent(string text) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            stream.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
