namespace MeDlm.Server.Tests;

/// <summary>
/// Text that is not Unicode: JSON escapes of unpaired UTF-16 surrogates (valid JSON, but no text a
/// tokenizer can encode) and bytes that are not UTF-8. Each is a 400 in OpenAI's error shape naming the
/// field, wherever in the body it sits, and the server stays healthy.
/// </summary>
[Collection(SharedServerCollection.Name)]
public sealed class UnicodeInputTests(SharedServer shared)
{
    private const string Chat = ApiErrors.Chat;
    private const string Completions = ApiErrors.Completions;

    /// <summary>name, route, body (JSON text: \u escapes stay escapes), the param named.</summary>
    public static TheoryData<string, string, string, string> LoneSurrogates() => new()
    {
        { "lone high surrogate in content", Chat, """{"messages":[{"role":"user","content":"\ud800"}]}""", "messages[0].content" },
        { "lone low surrogate in content", Chat, """{"messages":[{"role":"user","content":"ok \udc00 ok"}]}""", "messages[0].content" },
        { "high surrogate before a letter", Chat, """{"messages":[{"role":"user","content":"\ud800\u0041"}]}""", "messages[0].content" },
        { "two high surrogates", Chat, """{"messages":[{"role":"user","content":"\ud83d\ud83d"}]}""", "messages[0].content" },
        { "pair in the wrong order", Chat, """{"messages":[{"role":"user","content":"\ude00\ud83d"}]}""", "messages[0].content" },
        { "lone surrogate in a system message", Chat, """{"messages":[{"role":"system","content":"be \udfff brief"},{"role":"user","content":"hi"}]}""", "messages[0].content" },
        { "lone surrogate in a later message", Chat, """{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"\ud800"}]}""", "messages[1].content" },
        { "lone surrogate in a text part", Chat, """{"messages":[{"role":"user","content":[{"type":"text","text":"a\ud800b"}]}]}""", "messages[0].content[0].text" },
        { "lone surrogate in a role", Chat, """{"messages":[{"role":"\ud800","content":"hi"}]}""", "messages[0].role" },
        { "lone surrogate in stop", Chat, """{"messages":[{"role":"user","content":"hi"}],"stop":"\ud800"}""", "stop" },
        { "lone surrogate in a stop array", Chat, """{"messages":[{"role":"user","content":"hi"}],"stop":["x","\udbff"]}""", "stop[1]" },
        { "lone surrogate in model", Chat, """{"model":"\ud800","messages":[{"role":"user","content":"hi"}]}""", "model" },
        { "lone surrogate in user", Chat, """{"messages":[{"role":"user","content":"hi"}],"user":"\ud800"}""", "user" },
        { "lone surrogate in medlm.algorithm", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"algorithm":"\ud800"}}""", "medlm.algorithm" },
        { "lone surrogate in a medlm key", Chat, """{"messages":[{"role":"user","content":"hi"}],"medlm":{"\ud800":1}}""", "medlm" },
        { "lone surrogate in an unknown field's name", Chat, """{"messages":[{"role":"user","content":"hi"}],"\ud800":1}""", "" },
        { "lone surrogate in an unknown field's value", Chat, """{"messages":[{"role":"user","content":"hi"}],"metadata":{"k":["\ud800"]}}""", "metadata.k[0]" },
        { "lone surrogate in prompt", Completions, """{"prompt":"\ud800"}""", "prompt" },
        { "lone surrogate in a prompt array", Completions, """{"prompt":["fine","\udc00"]}""", "prompt[1]" },
        { "lone surrogate in completions stop", Completions, """{"prompt":"x","stop":["\ud800"]}""", "stop[0]" },
        { "lone surrogate in suffix", Completions, """{"prompt":"x","suffix":"\ud800"}""", "suffix" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public async Task A_lone_surrogate_escape_is_a_400_naming_the_field(string name, string route, string body, string param)
    {
        using HttpResponseMessage r = await shared.Server.PostJsonAsync(route, body);
        await AssertErrorAsync(r, name, "unpaired UTF-16 surrogate", param.Length == 0 ? null : param);
        await AssertStillHealthyAsync();
    }

    [Fact]
    public async Task A_paired_surrogate_escape_is_text()
    {
        // The same escapes as a proper pair are one emoji: served, not refused.
        JsonElement chat = await shared.Server.PostOkAsync(Chat, """{"messages":[{"role":"user","content":"\ud83d\ude00 hi"}],"max_tokens":4,"stop":["\ud83d\ude00"]}""");
        Assert.Equal("assistant", chat.GetProperty("choices")[0].GetProperty("message").GetProperty("role").GetString());
        JsonElement completion = await shared.Server.PostOkAsync(Completions, """{"prompt":"\uD83D\uDE00","max_tokens":4}""");
        Assert.True(completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
    }

    /// <summary>name, bytes of the body.</summary>
    public static TheoryData<string, byte[]> InvalidUtf8() => new()
    {
        { "a stray continuation byte", Body("""{"prompt":"a""", [0x80], "\"}") },
        { "an encoded surrogate (CESU-8)", Body("""{"prompt":"a""", [0xED, 0xA0, 0x80], "\"}") },
        { "an overlong slash", Body("""{"prompt":"a""", [0xC0, 0xAF], "\"}") },
        { "a sequence cut short", Body("""{"prompt":"a""", [0xE2, 0x82], "\"}") },
        { "a code point past U+10FFFF", Body("""{"prompt":"a""", [0xF4, 0x90, 0x80, 0x80], "\"}") },
        { "bad bytes in a field name", Body("{\"prompt\":\"a\",\"", [0xFF], "\":1}") },
        { "bad bytes outside strings", Body("""{"prompt":"a"}""", [0xFE], "") },
        { "Latin-1 text", Body("""{"prompt":"caf""", [0xE9], "\"}") },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public async Task A_body_that_is_not_utf8_is_a_400(string name, byte[] body)
    {
        using HttpResponseMessage r = await shared.Server.PostJsonBytesAsync(Completions, body);
        await AssertErrorAsync(r, name, "not valid UTF-8", null);
        await AssertStillHealthyAsync();
    }

    private static byte[] Body(string head, byte[] bad, string tail) => [.. Encoding.UTF8.GetBytes(head), .. bad, .. Encoding.UTF8.GetBytes(tail)];

    private static async Task AssertErrorAsync(HttpResponseMessage r, string name, string message, string? param)
    {
        JsonElement error = await ApiErrors.AssertErrorAsync(r, name, 400, message);
        Assert.Equal("invalid_encoding", error.GetProperty("code").GetString());
        JsonElement p = error.GetProperty("param");
        Assert.Equal(param, p.ValueKind == JsonValueKind.Null ? null : p.GetString());
    }

    private Task AssertStillHealthyAsync() => ApiErrors.AssertStillHealthyAsync(shared.Server);
}
