namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>Server-sent events as OpenAI sends them: <c>data: {json}</c> blocks, ending with <c>data: [DONE]</c>.</summary>
public static class Sse
{
    /// <summary>Every data payload of the stream, in order.</summary>
    public static async Task<List<string>> ReadAllAsync(Stream stream, CancellationToken ct = default)
    {
        var events = new List<string>();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(line["data: ".Length..]);
            }
            else
            {
                Assert.True(line.Length == 0, $"Unexpected SSE line: {line}");
            }
        }
        return events;
    }

    /// <summary>The JSON chunks (all but [DONE]), asserting the stream ended with [DONE].</summary>
    public static List<JsonElement> Chunks(List<string> events)
    {
        Assert.NotEmpty(events);
        Assert.Equal("[DONE]", events[^1]);
        return [.. events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e).RootElement.Clone())];
    }

    /// <summary>Concatenated chat deltas of choice <paramref name="index"/>.</summary>
    public static string ChatText(IEnumerable<JsonElement> chunks, int index = 0)
    {
        var sb = new StringBuilder();
        foreach (JsonElement c in chunks)
        {
            foreach (JsonElement choice in c.GetProperty("choices").EnumerateArray())
            {
                if (choice.GetProperty("index").GetInt32() == index
                    && choice.GetProperty("delta").TryGetProperty("content", out JsonElement content)
                    && content.ValueKind == JsonValueKind.String)
                {
                    sb.Append(content.GetString());
                }
            }
        }
        return sb.ToString();
    }

    /// <summary>Concatenated completion texts of choice <paramref name="index"/>.</summary>
    public static string CompletionText(IEnumerable<JsonElement> chunks, int index = 0)
    {
        var sb = new StringBuilder();
        foreach (JsonElement c in chunks)
        {
            foreach (JsonElement choice in c.GetProperty("choices").EnumerateArray())
            {
                if (choice.GetProperty("index").GetInt32() == index)
                {
                    sb.Append(choice.GetProperty("text").GetString());
                }
            }
        }
        return sb.ToString();
    }
}
