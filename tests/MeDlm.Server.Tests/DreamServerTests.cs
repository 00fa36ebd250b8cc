using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Tests.Shared;

namespace MeDlm.Server.Tests;

/// <summary>The server on the tiny Dream-layout package: OpenAI top_p and the medlm Dream settings, and 400s for what does not fit.</summary>
public sealed class DreamServerTests
{
    private static string DreamFolder => TinyDream.Folder;

    private const string Prompt = TinyDream.Prompt;

    [Fact]
    public async Task Chat_on_a_Dream_package_honours_top_p_and_the_Dream_settings()
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Model:Path=" + DreamFolder]);
        JsonElement body = await server.PostOkAsync("/v1/chat/completions", $$$"""
            {"messages":[{"role":"user","content":"{{{Prompt}}}"}],"temperature":0.7,"top_p":0.9,"seed":5,"max_tokens":32,
             "medlm":{"algorithm":"entropy","mask_steps":8,"top_k":12,"alg_temp":0.3}}
            """);
        string content = body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

        using var package = ModelPackage.Load(DreamFolder);
        using var generator = new Generator(package);
        GenerationResult expected = TinyDream.SampledEntropyAnswer(package, generator, temperature: 0.7, topP: 0.9);
        Assert.Equal(expected.Text, content);
    }

    [Theory]
    [InlineData(true, """{"algorithm":"low_confidence"}""", "medlm.algorithm")]
    [InlineData(true, """{"edit_rounds":1}""", "medlm.edit_rounds")]
    [InlineData(true, """{"threshold":0.5}""", "medlm.threshold")]
    [InlineData(true, """{"eps":2}""", "medlm.eps")]
    [InlineData(true, """{"top_k":-1}""", "medlm.top_k")]
    [InlineData(false, """{"algorithm":"entropy"}""", "medlm.algorithm")]
    [InlineData(false, """{"top_k":5}""", "medlm.top_k")]
    [InlineData(false, """{"alg_temp":0.5}""", "medlm.alg_temp")]
    public async Task Settings_that_do_not_fit_the_package_are_400(bool dream, string medlm, string param)
    {
        // On the Dream package: LLaDA / ME-DLM settings and out-of-range Dream ones; on the bundled model: Dream settings.
        await using LoopbackServer server = await LoopbackServer.StartAsync(dream ? ["Model:Path=" + DreamFolder] : null);
        using HttpResponseMessage r = await server.PostJsonAsync("/v1/chat/completions",
            $$$"""{"messages":[{"role":"user","content":"hi"}],"medlm":{{{medlm}}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(param, doc.RootElement.GetProperty("error").GetProperty("param").GetString());
    }
}
