global using ChatCompletionChunk = MeDlm.Server.Contracts.Completion<MeDlm.Server.Contracts.ChatChunkChoice, object>;
global using ChatCompletionResponse = MeDlm.Server.Contracts.Completion<MeDlm.Server.Contracts.ChatChoice, System.Collections.Generic.IReadOnlyList<MeDlm.Server.Contracts.GenerationStatsBody>>;
global using CompletionChunk = MeDlm.Server.Contracts.Completion<MeDlm.Server.Contracts.CompletionChoice, object>;
global using CompletionResponse = MeDlm.Server.Contracts.Completion<MeDlm.Server.Contracts.CompletionChoice, System.Collections.Generic.IReadOnlyList<MeDlm.Server.Contracts.GenerationStatsBody>>;
using System.Text.Json.Serialization;

namespace MeDlm.Server.Contracts;

/// <summary>Token counts, as OpenAI reports them.</summary>
public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>What the diffusion did for one choice (the extra <c>medlm</c> object of a response).</summary>
/// <param name="ForwardPasses">Model forward passes this sequence took part in.</param>
/// <param name="MaskSteps">Stage-1 steps run.</param>
/// <param name="EditRounds">Stage-2 rounds run.</param>
/// <param name="EditRoundsSaved">Rounds planned but skipped because the sequence reached a fixed point.</param>
/// <param name="Edits">Edits applied, by kind.</param>
/// <param name="BatchSize">Sequences in the lockstep batch this one ran in.</param>
/// <param name="QueueSeconds">Time between acceptance and the start of its batch.</param>
/// <param name="GenerationSeconds">Time of its batch's run.</param>
public sealed record GenerationStatsBody(
    int ForwardPasses,
    int MaskSteps,
    int EditRounds,
    int EditRoundsSaved,
    EditCounts Edits,
    int BatchSize,
    double QueueSeconds,
    double GenerationSeconds);

/// <summary>Edits by kind.</summary>
public sealed record EditCounts(int Replace, int Delete, int Insert);

/// <summary>A choice of a legacy completion (also its streamed chunk).</summary>
public sealed record CompletionChoice(
    string Text,
    int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>A chat message in an answer, and the delta of a streamed chat choice (what is absent is left out).</summary>
public sealed record ChatMessageBody(string? Role, string? Content);

/// <summary>A choice of a chat completion.</summary>
public sealed record ChatChoice(
    int Index,
    ChatMessageBody Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>A choice of a streamed chat chunk.</summary>
public sealed record ChatChunkChoice(
    int Index,
    ChatMessageBody Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] object? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>
/// The one envelope of every completion answer and streamed chunk, as OpenAI shapes them: <c>object</c> names
/// the kind (<c>chat.completion</c>, <c>chat.completion.chunk</c>, <c>text_completion</c>) and
/// <typeparamref name="TChoice"/> is its choice. A chunk carries <c>Usage</c> only in the usage chunk. <c>Medlm</c>
/// is the choices' <see cref="GenerationStatsBody"/> list on an answer; on a chunk a <see cref="DenoisingStep"/>
/// (a step chunk) or the choice's <see cref="GenerationStatsBody"/> (its finish chunk). The four kinds are named
/// by the aliases at the top of this file.
/// </summary>
public sealed record Completion<TChoice, TMedlm>(
    string Id,
    [property: JsonPropertyName("object")] string ObjectType,
    long Created,
    string Model,
    IReadOnlyList<TChoice> Choices,
    Usage? Usage,
    TMedlm? Medlm)
    where TMedlm : class;

/// <summary>
/// One denoising step of one choice, sent in the <c>medlm</c> field of a chunk whose choices carry no
/// content, when the request asked for <c>medlm.stream_denoising</c>.
/// </summary>
/// <param name="Index">The choice.</param>
/// <param name="Step">Forward pass number of this sequence, from 1.</param>
/// <param name="Stage"><c>mask</c> (unmasking) or <c>edit</c> (an edit round).</param>
/// <param name="Canvas">The response as it stands after the step; masks show as the mask token's text.</param>
/// <param name="MasksLeft">Masked positions still to fill.</param>
/// <param name="Committed">Positions unmasked by this step.</param>
/// <param name="Edits">Edits of this round (stage <c>edit</c>).</param>
/// <param name="Tokens">The text of each response position after the step (special tokens as their text).</param>
/// <param name="Changes">What the step changed, position by position.</param>
public sealed record DenoisingStep(int Index, int Step, string Stage, string Canvas, int MasksLeft, int Committed, EditCounts? Edits,
    IReadOnlyList<string> Tokens, IReadOnlyList<TokenChangeBody> Changes);

/// <summary>One position a denoising step changed.</summary>
/// <param name="Position">Index into the response: in the canvas after the step, in the one before it for <c>delete</c>.</param>
/// <param name="Kind"><c>commit</c> (a mask became a token), <c>replace</c>, <c>delete</c> or <c>insert</c>.</param>
/// <param name="Old">The token's text before the step (<c>replace</c> and <c>delete</c>).</param>
public sealed record TokenChangeBody(int Position, string Kind, string? Old);

/// <summary>A model in <c>GET /v1/models</c>; <c>Medlm</c> holds what a request gets when it leaves a setting out.</summary>
public sealed record ModelCard(string Id, [property: JsonPropertyName("object")] string ObjectType, long Created, string OwnedBy, ModelDefaultsBody? Medlm);

/// <summary>The served model's generation defaults (manifest <c>generation</c>) and the texts of its special tokens.</summary>
/// <param name="GenLength">Generation length when <c>max_tokens</c> is absent.</param>
/// <param name="Budget">Forward passes per sequence as a fraction of the generation length.</param>
/// <param name="EditShare">Share of the budget's passes that are edit rounds (0 without an edit head).</param>
/// <param name="Algorithm">The stage-1 algorithm.</param>
/// <param name="BlockLength">Block length at the default generation length.</param>
/// <param name="Threshold">Confidence threshold of the <c>threshold</c> algorithm.</param>
/// <param name="Temperature">Sampling temperature (0 = greedy).</param>
/// <param name="EditHead">Whether the model can run edit rounds.</param>
/// <param name="ContextLength">Prompt plus generation tokens the model takes.</param>
/// <param name="SpecialTokens">Texts of the mask, pad and end tokens as they show in a canvas.</param>
public sealed record ModelDefaultsBody(int GenLength, double Budget, double EditShare, string Algorithm, int BlockLength, double Threshold,
    double Temperature, bool EditHead, int ContextLength, SpecialTokenTexts SpecialTokens);

/// <summary>How the special tokens show in a streamed canvas.</summary>
public sealed record SpecialTokenTexts(string Mask, string Pad, string End);

/// <summary><c>GET /v1/models</c> answer.</summary>
public sealed record ModelList([property: JsonPropertyName("object")] string ObjectType, IReadOnlyList<ModelCard> Data);

/// <summary>A health endpoint's answer.</summary>
public sealed record HealthStatus(string Status, string? Model, string? Detail);
