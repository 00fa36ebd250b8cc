using System.Text.Json;

namespace MeDlm.Server.Endpoints;

/// <summary>
/// Writes one streamed response's server-sent events in its endpoint's chunk format (chat or completion).
/// The stream's order is the same for both kinds: a start chunk per choice, optional denoising steps, the
/// text pieces, the finish chunk with the choice's statistics, the usage chunk if asked.
/// </summary>
internal abstract class ChunkWriter(HttpResponse response, string id, long created, string model)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    protected string Id => id;

    protected long Created => created;

    protected string Model => model;

    /// <summary>The choice's batch started (chat: the assistant role).</summary>
    public Task StartAsync(int choice, CancellationToken ct) => WriteEventAsync(Chunk(choice, start: true, null, null, null), ct);

    /// <summary>A denoising step of the choice (in the chunk's <c>medlm</c> field).</summary>
    public Task StepAsync(int choice, DenoisingStep step, CancellationToken ct) => WriteEventAsync(Chunk(choice, start: false, null, null, step), ct);

    /// <summary>A piece of the choice's final text.</summary>
    public Task TextAsync(int choice, string piece, CancellationToken ct) => WriteEventAsync(Chunk(choice, start: false, piece, null, null), ct);

    /// <summary>The choice's finish reason, with its statistics.</summary>
    public Task FinishAsync(int choice, string reason, GenerationStatsBody stats, CancellationToken ct) =>
        WriteEventAsync(Chunk(choice, start: false, null, reason, stats), ct);

    /// <summary>The usage chunk (no choices).</summary>
    public Task UsageAsync(Usage usage, CancellationToken ct) => WriteEventAsync(UsageChunk(usage), ct);

    /// <summary>One event of any JSON payload (an error object).</summary>
    public async Task WriteEventAsync(byte[] json, CancellationToken ct)
    {
        await response.Body.WriteAsync(DataPrefix, ct).ConfigureAwait(false);
        await response.Body.WriteAsync(json, ct).ConfigureAwait(false);
        await response.Body.WriteAsync(EventEnd, ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>A chunk holding one choice: its start, a text piece, a finish reason, or a <c>medlm</c> payload.</summary>
    protected abstract byte[] Chunk(int choice, bool start, string? text, string? finishReason, object? medlm);

    /// <summary>A chunk holding only the usage.</summary>
    protected abstract byte[] UsageChunk(Usage usage);
}

/// <summary><c>chat.completion.chunk</c> events of <c>/v1/chat/completions</c>.</summary>
internal sealed class ChatChunkWriter(HttpResponse response, string id, long created, string model) : ChunkWriter(response, id, created, model)
{
    protected override byte[] Chunk(int choice, bool start, string? text, string? finishReason, object? medlm)
    {
        var delta = start ? new ChatMessageBody("assistant", "") : new ChatMessageBody(null, text);
        var chunk = new ChatCompletionChunk(Id, "chat.completion.chunk", Created, Model, [new ChatChunkChoice(choice, delta, null, finishReason)], null, medlm);
        return JsonSerializer.SerializeToUtf8Bytes(chunk, ServerJsonContext.Api.ChatCompletionChunk);
    }

    protected override byte[] UsageChunk(Usage usage) => JsonSerializer.SerializeToUtf8Bytes(
        new ChatCompletionChunk(Id, "chat.completion.chunk", Created, Model, [], usage, null), ServerJsonContext.Api.ChatCompletionChunk);
}

/// <summary><c>text_completion</c> events of <c>/v1/completions</c>.</summary>
internal sealed class CompletionChunkWriter(HttpResponse response, string id, long created, string model) : ChunkWriter(response, id, created, model)
{
    protected override byte[] Chunk(int choice, bool start, string? text, string? finishReason, object? medlm)
    {
        var chunk = new CompletionChunk(Id, "text_completion", Created, Model, [new CompletionChoice(text ?? "", choice, null, finishReason)], null, medlm);
        return JsonSerializer.SerializeToUtf8Bytes(chunk, ServerJsonContext.Api.CompletionChunk);
    }

    protected override byte[] UsageChunk(Usage usage) => JsonSerializer.SerializeToUtf8Bytes(
        new CompletionChunk(Id, "text_completion", Created, Model, [], usage, null), ServerJsonContext.Api.CompletionChunk);
}
