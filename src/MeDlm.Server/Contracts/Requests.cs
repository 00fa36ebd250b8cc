using MeDlm.Tokenization;

namespace MeDlm.Server.Contracts;

/// <summary>The OpenAI fields both endpoints share, after parsing (not yet checked against limits).</summary>
public abstract record GenerationRequestBody
{
    /// <summary>The model asked for; null when the request named none.</summary>
    public string? Model { get; init; }

    /// <summary><c>max_tokens</c> (or <c>max_completion_tokens</c>): the generation length.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Sampling temperature; null takes the model's default (greedy for the bundled model).</summary>
    public double? Temperature { get; init; }

    /// <summary>OpenAI <c>top_p</c>: honoured for Dream packages; other models accept only 1.</summary>
    public double? TopP { get; init; }

    /// <summary>Seed of the sampler; null draws one.</summary>
    public long? Seed { get; init; }

    /// <summary>Stop sequences: the text is cut before the first one found.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Answer as server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>: end the stream with a usage chunk.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>The extra diffusion settings.</summary>
    public MedlmSettings Medlm { get; init; } = MedlmSettings.None;
}

/// <summary>A parsed <c>POST /v1/completions</c> body.</summary>
public sealed record CompletionRequestBody : GenerationRequestBody
{
    /// <summary>One or more raw prompts (no chat template); each gives one choice.</summary>
    public required IReadOnlyList<string> Prompts { get; init; }

    /// <summary>Return the prompt followed by the completion.</summary>
    public bool Echo { get; init; }
}

/// <summary>A parsed <c>POST /v1/chat/completions</c> body.</summary>
public sealed record ChatCompletionRequestBody : GenerationRequestBody
{
    /// <summary>The conversation, roles normalised to system / user / assistant.</summary>
    public required IReadOnlyList<ChatMessage> Messages { get; init; }
}
