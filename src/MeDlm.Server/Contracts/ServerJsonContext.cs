using System.Text.Json;
using System.Text.Json.Serialization;

namespace MeDlm.Server.Contracts;

/// <summary>Source-generated serialization of every response body, in OpenAI's snake_case.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OpenAiErrorResponse))]
[JsonSerializable(typeof(CompletionResponse), TypeInfoPropertyName = nameof(CompletionResponse))]
[JsonSerializable(typeof(CompletionChunk), TypeInfoPropertyName = nameof(CompletionChunk))]
[JsonSerializable(typeof(ChatCompletionResponse), TypeInfoPropertyName = nameof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk), TypeInfoPropertyName = nameof(ChatCompletionChunk))]
// The chunks' medlm field is either (typed as object).
[JsonSerializable(typeof(DenoisingStep))]
[JsonSerializable(typeof(GenerationStatsBody))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(HealthStatus))]
internal sealed partial class ServerJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context every response is written with: as <see cref="Default"/>, but without escaping the
    /// HTML-sensitive characters (&lt;, &gt;, &amp;, +, ') that code answers are full of. The bodies are
    /// JSON and event streams, never embedded in HTML.
    /// </summary>
    public static ServerJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
