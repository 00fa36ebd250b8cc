using MeDlm.Tokenization;

namespace MeDlm.Server.Tests;

/// <summary>
/// A model that fails inside ONNX Runtime in the middle of a run (as a CUDA error would): the run's requests
/// get a clean 500, not a hang or a dropped connection, and the server goes on serving.
/// </summary>
public sealed class ModelFailureTests
{
    /// <summary>
    /// tiny-fixture's weights in graphs that pass the load-time contract but run only on rows up to
    /// <see cref="RunsUpTo"/> positions; longer rows fail in the denoiser (export/make_fixtures.py).
    /// </summary>
    private static string Folder => Path.Combine(RepoPaths.RepoRoot, "tests", "fixtures", "packages", "tiny-fixture-fails-long");

    /// <summary>The longest row the fixture's denoiser runs (FAILS_PAST in export/make_fixtures.py).</summary>
    private const int RunsUpTo = 32;

    private const string Prompt = "def add(a, b):";

    [Fact]
    public async Task A_run_that_fails_in_the_model_answers_500_and_the_server_keeps_serving()
    {
        // Completions take the prompt raw: its tokens plus max_tokens is the canvas (exact shapes on the CPU).
        int promptTokens = MeDlmTokenizer.Load(Path.Combine(Folder, "tokenizer.json")).EncodeToIds(Prompt).Count;
        string Body(int canvas, bool stream) => JsonSerializer.Serialize(new { prompt = Prompt, max_tokens = canvas - promptTokens, stream });
        await using LoopbackServer server = await LoopbackServer.StartAsync(["Model:Path=" + Folder]);

        // One position too long: the first forward pass fails.
        using (HttpResponseMessage r = await server.PostJsonAsync(ApiErrors.Completions, Body(RunsUpTo + 1, stream: false)))
        {
            JsonElement error = await ApiErrors.AssertErrorAsync(r, "failed run", 500, "The model failed to generate: ", "server_error");
            Assert.Equal("model_error", error.GetProperty("code").GetString());
            // ONNX Runtime's own error, from inside the run.
            Assert.Contains("running Add node", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        // Streaming: the headers are out before the run, so the error comes as the last event, then [DONE].
        List<JsonElement> chunks = Sse.Chunks(await server.PostStreamAsync(ApiErrors.Completions, Body(RunsUpTo + 1, stream: true)));
        JsonElement streamed = chunks[^1].GetProperty("error");
        Assert.StartsWith("The model failed to generate: ", streamed.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("server_error", streamed.GetProperty("type").GetString());
        Assert.DoesNotContain(chunks, c => c.TryGetProperty("choices", out JsonElement choices) && choices.GetArrayLength() > 0
            && choices[0].TryGetProperty("finish_reason", out JsonElement reason) && reason.ValueKind == JsonValueKind.String);

        // The longest canvas the graph runs: served, plain and streamed.
        JsonElement ok = await server.PostOkAsync(ApiErrors.Completions, Body(RunsUpTo, stream: false));
        Assert.Equal(promptTokens, ok.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.True(ok.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        List<JsonElement> streamedOk = Sse.Chunks(await server.PostStreamAsync(ApiErrors.Completions, Body(RunsUpTo, stream: true)));
        Assert.DoesNotContain(streamedOk, c => c.TryGetProperty("error", out _));

        await ApiErrors.AssertStillHealthyAsync(server);
        // The plain failure is counted as a 500 (the streamed one's status went out as 200 before the run).
        Assert.Equal(1, await server.MetricAsync("medlm_request_duration_seconds_count", "status=\"500\""));
    }
}
