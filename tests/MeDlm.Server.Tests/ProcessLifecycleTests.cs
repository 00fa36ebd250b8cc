namespace MeDlm.Server.Tests;

/// <summary>The real process: a bad configuration stops the start; SIGTERM drains and exits 0.</summary>
public sealed class ProcessLifecycleTests
{
    private const string LongStream = """{"stream":true,"messages":[{"role":"user","content":"write keep_lt(xs) with k = 8"}],"max_tokens":64,"medlm":{"mask_steps":64,"edit_rounds":0}}""";

    public static TheoryData<string, string> BadConfigurations() => new()
    {
        { "Model:Path=/nonexistent/model", "Model:Path \"/nonexistent/model\" is not a folder" },
        { "Model:Path=" + Path.GetTempPath(), "medlm.json is missing" },
        { "Model:Device=tpu", "Model:Device \"tpu\" is not one of cpu, cuda, auto" },
        { "Scheduler:MaxBatchSize=0", "Scheduler:MaxBatchSize must be between 1 and" },
        { "Scheduler:QueueCapacity=-3", "Scheduler:QueueCapacity must be between 1 and" },
        { "Limits:MaxGenLength=0", "Limits:MaxGenLength must be between 1 and" },
        { "Limits:MaxRequestBodyBytes=12", "Limits:MaxRequestBodyBytes must be between 1024 and" },
        { "Limits:MaxSteps=notanumber", "Limits:MaxSteps" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task A_bad_configuration_stops_the_start_with_a_clear_message_and_a_nonzero_exit_code(string setting, string message)
    {
        using ServerProcess server = ServerProcess.Start(setting);
        int exit = await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, exit);
        Assert.Contains("invalid configuration", server.StandardError);
        Assert.Contains(message, server.StandardError);
        // One clear message: no stack trace.
        Assert.DoesNotContain("   at ", server.StandardError);
    }

    [Fact]
    public async Task Sigterm_stops_intake_finishes_the_request_in_flight_and_exits_zero()
    {
        using ServerProcess server = ServerProcess.Start("Scheduler:ShutdownTimeoutSeconds=60");
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        await server.WaitReadyAsync(http, TimeSpan.FromSeconds(60));

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(LongStream, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        // The first chunk comes when its batch starts: the request is in flight now.
        Assert.StartsWith("data: ", await reader.ReadLineAsync());

        server.Terminate();

        var events = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(line[6..]);
            }
        }
        List<JsonElement> chunks = Sse.Chunks(events);
        Assert.Contains(chunks, c => c.GetProperty("choices").EnumerateArray().Any(ch => ch.GetProperty("finish_reason").ValueKind == JsonValueKind.String));
        Assert.DoesNotContain(chunks, c => c.TryGetProperty("error", out _));

        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("Shutting down: intake stopped", server.StandardOutput);
        Assert.Contains("Scheduler drained", server.StandardOutput);
    }

    [Fact]
    public async Task Work_left_at_the_shutdown_timeout_is_cancelled_and_the_process_still_exits_zero()
    {
        using ServerProcess server = ServerProcess.Start("Scheduler:ShutdownTimeoutSeconds=0", "Scheduler:MaxBatchSize=1");
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        await server.WaitReadyAsync(http, TimeSpan.FromSeconds(60));

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(LongStream, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());

        server.Terminate();

        string rest = await reader.ReadToEndAsync();
        Assert.Contains("shutting_down", rest);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task A_model_that_cannot_be_loaded_stops_the_server_with_exit_code_3()
    {
        // A package whose manifest reads but whose graph is not ONNX: found only by the background load.
        string folder = Path.Combine(Path.GetTempPath(), "medlm-broken-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (string file in new[] { "medlm.json", "tokenizer.json" })
            {
                File.Copy(Path.Combine(RepoPaths.ModelPackagePath, file), Path.Combine(folder, file));
            }
            File.WriteAllText(Path.Combine(folder, "denoiser.onnx"), "not a graph");
            File.WriteAllText(Path.Combine(folder, "edit_head.onnx"), "not a graph");

            using ServerProcess server = ServerProcess.Start("Model:Path=" + folder);
            Assert.Equal(3, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("The model could not be loaded", server.StandardOutput + server.StandardError);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
