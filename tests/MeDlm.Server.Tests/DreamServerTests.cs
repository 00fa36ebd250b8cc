using System.Net;
using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Server.Tests.Infrastructure;
using MeDlm.Tokenization;

namespace MeDlm.Server.Tests;

/// <summary>The server on the tiny Dream-layout package: OpenAI top_p and the medlm Dream settings, and 400s for what does not fit.</summary>
public sealed class DreamServerTests
{
    private static string DreamFolder => Path.Combine(RepoPaths.RepoRoot, "tests", "fixtures", "packages", "tiny-dream");

    private const string Prompt = "write sum_gt(xs) with k = 9";

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
        ChatMessage[] messages = [ChatMessage.User(Prompt)];
        int promptLength = package.Tokenizer.EncodeToIds(package.Manifest.ChatTemplate.Apply(messages)).Count;
        GenerationResult expected = generator.Generate(new GenerationRequest
        {
            Messages = messages,
            GenLength = 32,
            LengthCap = promptLength + 32,
            Algorithm = DecodingAlgorithm.Entropy,
            MaskSteps = 8,
            Temperature = 0.7,
            TopP = 0.9,
            TopK = 12,
            AlgTemp = 0.3,
            Seed = 5,
        });
        Assert.Equal(expected.Text, content);
    }

    [Theory]
    [InlineData("""{"algorithm":"low_confidence"}""", "medlm.algorithm")]
    [InlineData("""{"edit_rounds":1}""", "medlm.edit_rounds")]
    [InlineData("""{"threshold":0.5}""", "medlm.threshold")]
    [InlineData("""{"eps":2}""", "medlm.eps")]
    [InlineData("""{"top_k":-1}""", "medlm.top_k")]
    public async Task Settings_that_do_not_fit_a_Dream_package_are_400(string medlm, string param)
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Model:Path=" + DreamFolder]);
        using HttpResponseMessage r = await server.PostJsonAsync("/v1/chat/completions",
            $$$"""{"messages":[{"role":"user","content":"hi"}],"medlm":{{{medlm}}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(param, doc.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("""{"algorithm":"entropy"}""", "medlm.algorithm")]
    [InlineData("""{"top_k":5}""", "medlm.top_k")]
    [InlineData("""{"alg_temp":0.5}""", "medlm.alg_temp")]
    public async Task Dream_settings_on_the_bundled_model_are_400(string medlm, string param)
    {
        await using LoopbackServer server = await LoopbackServer.StartAsync();
        using HttpResponseMessage r = await server.PostJsonAsync("/v1/chat/completions",
            $$$"""{"messages":[{"role":"user","content":"hi"}],"medlm":{{{medlm}}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.Equal(param, doc.RootElement.GetProperty("error").GetProperty("param").GetString());
    }
}
