using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using MeDlmChatMessage = MeDlm.Tokenization.ChatMessage;

namespace MeDlm.Extensions.AI;

/// <summary>
/// A Microsoft.Extensions.AI <see cref="IChatClient"/> over a MeDlm <see cref="Generator"/>, so that .NET
/// code written against IChatClient (and its middleware: logging, caching, telemetry) runs an ME-DLM model
/// in process. The conversation goes through the model's chat template; <see cref="ChatOptions.MaxOutputTokens"/>
/// is the generation length and bounds the answer, <see cref="ChatOptions.Temperature"/>,
/// <see cref="ChatOptions.Seed"/> and <see cref="ChatOptions.StopSequences"/> are honoured, and the diffusion
/// settings ride in <see cref="ChatOptions.AdditionalProperties"/> under the <see cref="MeDlmChatOptions"/> keys.
/// What the model cannot do (tools, JSON output, top-p / top-k, penalties, images) is refused with a
/// <see cref="NotSupportedException"/> rather than ignored. Thread-safe; concurrent calls take turns on
/// the generator.
/// </summary>
public sealed class MeDlmChatClient : IChatClient
{
    private const string ProviderName = "medlm";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Generator _generator;
    private readonly ModelPackage? _ownedPackage;
    private readonly ChatClientMetadata _metadata;
    private bool _disposed;

    /// <summary>A client over an existing generator (not disposed with the client).</summary>
    /// <param name="generator">The generator to run.</param>
    /// <param name="modelId">The id requests may name in <see cref="ChatOptions.ModelId"/>; default: the manifest's name.</param>
    public MeDlmChatClient(Generator generator, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        _generator = generator;
        ModelId = string.IsNullOrEmpty(modelId) ? generator.Package.Manifest.Name : modelId;
        _metadata = new ChatClientMetadata(ProviderName, null, ModelId);
    }

    /// <summary>Loads the model package in <paramref name="modelFolder"/>; the client owns it and its generator.</summary>
    /// <exception cref="ModelLoadException">The folder is not a valid model package.</exception>
    public MeDlmChatClient(string modelFolder, ModelOptions? options = null, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        _ownedPackage = ModelPackage.Load(modelFolder, options);
        try
        {
            _generator = new Generator(_ownedPackage);
        }
        catch
        {
            _ownedPackage.Dispose();
            throw;
        }
        ModelId = string.IsNullOrEmpty(modelId) ? _ownedPackage.Manifest.Name : modelId;
        _metadata = new ChatClientMetadata(ProviderName, null, ModelId);
    }

    /// <summary>The id of the model this client runs.</summary>
    public string ModelId { get; }

    /// <summary>The generator this client runs on.</summary>
    public Generator Generator => _generator;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        PreparedRequest prepared = Prepare(messages, options);
        GenerationResult result = await _generator.GenerateAsync(prepared.Plan, cancellationToken).ConfigureAwait(false);
        Answer answer = Finish(result, prepared);
        var message = new AiChatMessage(ChatRole.Assistant, answer.Text) { MessageId = prepared.ResponseId };
        return new ChatResponse(message)
        {
            ResponseId = prepared.ResponseId,
            ModelId = ModelId,
            CreatedAt = prepared.CreatedAt,
            FinishReason = answer.FinishReason,
            Usage = answer.Usage,
            RawRepresentation = result,
            AdditionalProperties = Statistics(result),
        };
    }

    /// <inheritdoc />
    /// <remarks>
    /// A diffusion model has its answer only at the end; the text then streams in the pieces a token-by-token
    /// model would have sent (they concatenate to <see cref="GetResponseAsync"/>'s text for the same
    /// settings and seed), and a last update carries the finish reason and the usage. With
    /// <see cref="MeDlmChatOptions.StreamDenoising"/> every denoising step comes first as an update without
    /// text whose RawRepresentation is the <see cref="GenerationStep"/>.
    /// </remarks>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        PreparedRequest prepared = Prepare(messages, options);
        GenerationResult? result = null;
        if (prepared.StreamDenoising)
        {
            await foreach (GenerationStep step in _generator.GenerateStreamingAsync(prepared.Plan, cancellationToken).ConfigureAwait(false))
            {
                result = step.Result ?? result;
                yield return Update(prepared, [], step);
            }
            if (result is null)
            {
                // A streamed generation ends with its result unless it was cancelled.
                cancellationToken.ThrowIfCancellationRequested();
                throw new InvalidOperationException("The generation ended without a result.");
            }
        }
        else
        {
            result = await _generator.GenerateAsync(prepared.Plan, cancellationToken).ConfigureAwait(false);
        }

        Answer answer = Finish(result, prepared);
        foreach (string piece in AnswerText.StreamPieces(result, answer.Text))
        {
            yield return Update(prepared, [new TextContent(piece)], null);
        }
        ChatResponseUpdate last = Update(prepared, [new UsageContent(answer.Usage)], result);
        last.FinishReason = answer.FinishReason;
        last.AdditionalProperties = Statistics(result);
        yield return last;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }
        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }
        if (serviceType.IsInstanceOfType(this))
        {
            return this;
        }
        if (serviceType.IsInstanceOfType(_generator))
        {
            return _generator;
        }
        return serviceType.IsInstanceOfType(_generator.Package) ? _generator.Package : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_ownedPackage is not null)
        {
            _generator.Dispose();
            _ownedPackage.Dispose();
        }
    }

    private sealed record PreparedRequest(GenerationPlan Plan, IReadOnlyList<string> Stop, bool StreamDenoising,
        string ResponseId, DateTimeOffset CreatedAt);

    private readonly record struct Answer(string Text, ChatFinishReason FinishReason, UsageDetails Usage);

    private ChatResponseUpdate Update(PreparedRequest prepared, IList<AIContent> contents, object? raw) => new(ChatRole.Assistant, contents)
    {
        ResponseId = prepared.ResponseId,
        MessageId = prepared.ResponseId,
        ModelId = ModelId,
        CreatedAt = prepared.CreatedAt,
        RawRepresentation = raw,
    };

    /// <summary>The request as the generator takes it, after every check that does not need the model to run.</summary>
    private PreparedRequest Prepare(IEnumerable<AiChatMessage> messages, ChatOptions? options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(messages);
        if (options?.ModelId is { Length: > 0 } requested && !string.Equals(requested, ModelId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The model '{requested}' is not served by this client; it runs '{ModelId}'.", nameof(options));
        }
        RejectUnsupported(options, _generator.Package.Manifest.ShiftedLogits);

        ModelPackage package = _generator.Package;
        List<MeDlmChatMessage> turns = Conversation(messages, options?.Instructions);

        GenerationRequest? baseline = options?.RawRepresentationFactory?.Invoke(this) as GenerationRequest;
        AdditionalPropertiesDictionary? extra = options?.AdditionalProperties;
        int? genLength = options?.MaxOutputTokens ?? baseline?.GenLength;
        if (genLength is < 1)
        {
            throw new ArgumentException($"MaxOutputTokens must be at least 1, got {genLength}.", nameof(options));
        }
        double? temperature = options?.Temperature ?? baseline?.Temperature;
        if (temperature is < 0 or > 2 || temperature is { } t && !double.IsFinite(t))
        {
            throw new ArgumentException($"Temperature must be between 0 and 2, got {temperature}.", nameof(options));
        }

        (double? budget, bool autoBudget, bool budgetGiven) = BudgetOf(extra);
        var request = new GenerationRequest
        {
            Messages = turns,
            GenLength = genLength,
            Budget = budgetGiven ? budget : baseline?.Budget,
            AutoBudget = budgetGiven ? autoBudget : baseline?.AutoBudget ?? false,
            MaskSteps = Integer(extra, MeDlmChatOptions.MaskSteps) ?? baseline?.MaskSteps,
            EditSteps = Integer(extra, MeDlmChatOptions.EditRounds) ?? baseline?.EditSteps,
            Algorithm = AlgorithmOf(extra) ?? baseline?.Algorithm,
            BlockLength = Integer(extra, MeDlmChatOptions.BlockLength) ?? baseline?.BlockLength,
            Temperature = temperature,
            CfgScale = Number(extra, MeDlmChatOptions.CfgScale) ?? baseline?.CfgScale ?? 0,
            Threshold = Number(extra, MeDlmChatOptions.Threshold) ?? baseline?.Threshold,
            EditThreshold = Number(extra, MeDlmChatOptions.EditThreshold) ?? baseline?.EditThreshold,
            SwitchThreshold = Number(extra, MeDlmChatOptions.SwitchThreshold) ?? baseline?.SwitchThreshold,
            TopP = options?.TopP ?? baseline?.TopP,
            TopK = options?.TopK ?? baseline?.TopK,
            AlgTemp = Number(extra, MeDlmChatOptions.AlgTemp) ?? baseline?.AlgTemp,
            Eps = Number(extra, MeDlmChatOptions.Eps) ?? baseline?.Eps,
            Seed = options?.Seed ?? baseline?.Seed ?? 0,
            LogitsEosInf = baseline?.LogitsEosInf ?? false,
            ConfidenceEosEotInf = baseline?.ConfidenceEosEotInf ?? false,
            // The answer stays within MaxOutputTokens: edit insertions past it are dropped (as the server does).
            LengthCap = genLength is null ? baseline?.LengthCap : null,
            CapAtGenLength = genLength is not null || (baseline?.CapAtGenLength ?? false),
        };
        // Planned now, so that a bad setting fails the call before it queues for the generator.
        GenerationPlan plan = _generator.Plan(request);

        IReadOnlyList<string> stop = options?.StopSequences is { Count: > 0 } s ? [.. s] : [];
        for (int i = 0; i < stop.Count; i++)
        {
            if (string.IsNullOrEmpty(stop[i]))
            {
                throw new ArgumentException("StopSequences must not hold an empty string.", nameof(options));
            }
            // Answers are decoded from UTF-8 and never hold half a pair: such a stop could never match.
            RequireWellFormed(stop[i], $"StopSequences[{i}]", nameof(options));
        }
        bool streamDenoising = Flag(extra, MeDlmChatOptions.StreamDenoising);
        return new PreparedRequest(plan, stop, streamDenoising, "medlm-" + Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow);
    }

    private static void RejectUnsupported(ChatOptions? options, bool dream)
    {
        if (options is null)
        {
            return;
        }
        if (options.Tools is { Count: > 0 })
        {
            throw new NotSupportedException("Tools (function calling) are not supported by diffusion models served by MeDlm.");
        }
        if (options.ResponseFormat is not null and not ChatResponseFormatText)
        {
            throw new NotSupportedException("Only text responses are supported (ResponseFormat must be null or Text).");
        }
        // Dream packages honour TopP and TopK (Dream's sample_tokens); the others sample with Temperature alone.
        if (!dream && options.TopP is { } topP && topP != 1f)
        {
            throw new NotSupportedException("TopP is honoured for Dream packages only (this model samples with Temperature alone); leave it unset or 1.");
        }
        if (!dream && options.TopK is not null)
        {
            throw new NotSupportedException("TopK is honoured for Dream packages only (this model samples with Temperature alone); leave it unset.");
        }
        if (options.FrequencyPenalty is { } f && f != 0f || options.PresencePenalty is { } p && p != 0f)
        {
            throw new NotSupportedException("Frequency and presence penalties are not supported; leave them unset or 0.");
        }
    }

    /// <summary>The messages as chat-template turns: text only; Instructions first, as a system turn.</summary>
    private static List<MeDlmChatMessage> Conversation(IEnumerable<AiChatMessage> messages, string? instructions)
    {
        var turns = new List<MeDlmChatMessage>();
        if (!string.IsNullOrEmpty(instructions))
        {
            RequireWellFormed(instructions, "Instructions", "options");
            turns.Add(MeDlmChatMessage.System(instructions));
        }
        int index = 0;
        foreach (AiChatMessage message in messages)
        {
            ArgumentNullException.ThrowIfNull(message, nameof(messages));
            string role = message.Role.Value;
            if (message.Role != ChatRole.System && message.Role != ChatRole.User && message.Role != ChatRole.Assistant)
            {
                throw new NotSupportedException($"Message {index} has role '{role}'; only system, user and assistant turns are supported.");
            }
            foreach (AIContent content in message.Contents)
            {
                // Usage rides along in messages built from earlier streamed updates; it is not conversation.
                if (content is not TextContent and not UsageContent)
                {
                    throw new NotSupportedException($"Message {index} holds {content.GetType().Name}; only text is supported.");
                }
            }
            string text = message.Text;
            RequireWellFormed(text, $"Message {index}", nameof(messages));
            turns.Add(new MeDlmChatMessage(role, text));
            index++;
        }
        if (index == 0)
        {
            throw new ArgumentException("The conversation holds no messages.", nameof(messages));
        }
        return turns;
    }

    /// <summary>
    /// Refuses half a surrogate pair, named as the caller knows it (the tokenizer refuses it too, but names
    /// a position in the templated prompt). The strict encoder is the runtime's own well-formedness check.
    /// </summary>
    private static void RequireWellFormed(string text, string what, string paramName)
    {
        try
        {
            StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException(
                $"{what} holds an unpaired UTF-16 surrogate (U+{(int)e.CharUnknown:X4}) at index {e.Index}; text must be well-formed UTF-16.",
                paramName, e);
        }
    }

    /// <summary>Text cut at the stop sequences, the finish reason and the usage of a finished generation.</summary>
    private Answer Finish(GenerationResult result, PreparedRequest prepared)
    {
        SpecialTokens special = _generator.Package.Manifest.SpecialTokens;
        string text = AnswerText.ApplyStop(result.Text, prepared.Stop, out bool stopped);
        ChatFinishReason reason = stopped || !result.ReachedLengthLimit ? ChatFinishReason.Stop : ChatFinishReason.Length;
        int input = result.PromptTokenIds.Count;
        int output = result.AnswerLength;
        return new Answer(text, reason, new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output });
    }

    /// <summary>What a diffusion run did, beside the text: passes, tokens per pass, edits, rounds saved.</summary>
    private static AdditionalPropertiesDictionary Statistics(GenerationResult result)
    {
        GenerationStats s = result.Stats;
        return new AdditionalPropertiesDictionary
        {
            ["medlm.mask_passes"] = s.MaskPasses,
            ["medlm.edit_passes"] = s.EditPasses,
            ["medlm.edit_rounds_saved"] = s.EditRoundsSaved,
            ["medlm.replaced"] = s.Edits.Replaced,
            ["medlm.deleted"] = s.Edits.Deleted,
            ["medlm.inserted"] = s.Edits.Inserted,
            ["medlm.draft"] = result.DraftText,
        };
    }

    private static DecodingAlgorithm? AlgorithmOf(AdditionalPropertiesDictionary? extra)
    {
        if (extra is null || !extra.TryGetValue(MeDlmChatOptions.Algorithm, out object? value) || value is null)
        {
            return null;
        }
        if (value is DecodingAlgorithm algorithm)
        {
            return algorithm;
        }
        string? name = value is JsonElement { ValueKind: JsonValueKind.String } e ? e.GetString() : value as string;
        if (DecodingAlgorithms.TryParse(name, out DecodingAlgorithm parsed))
        {
            return parsed;
        }
        throw new ArgumentException(
            $"AdditionalProperties[\"{MeDlmChatOptions.Algorithm}\"] must be one of {DecodingAlgorithms.NameList}, got '{value}'.");
    }

    /// <summary>The budget as a number or in the library's budget syntax ("1/8", "0.125", "12.5%", "auto"); Given is false when absent.</summary>
    private static (double? Budget, bool Auto, bool Given) BudgetOf(AdditionalPropertiesDictionary? extra)
    {
        const string key = MeDlmChatOptions.Budget;
        if (extra is null || !extra.TryGetValue(key, out object? value) || value is null)
        {
            return (null, false, false);
        }
        string? text = value switch
        {
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            string s => s,
            _ => null,
        };
        if (text is null)
        {
            return (Number(extra, key), false, true);
        }
        return Budget.TryParse(text, out double budget, out bool auto, out string error)
            ? (auto ? null : budget, auto, true)
            : throw new ArgumentException($"AdditionalProperties[\"{key}\"]: {error}.");
    }

    private static double? Number(AdditionalPropertiesDictionary? extra, string key)
    {
        if (extra is null || !extra.TryGetValue(key, out object? value) || value is null)
        {
            return null;
        }
        double? number = value switch
        {
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.String } e when double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
            string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
            string or bool or char or DateTime => null,
            IConvertible c => c.ToDouble(CultureInfo.InvariantCulture),
            _ => null,
        };
        if (number is not { } n || !double.IsFinite(n))
        {
            throw new ArgumentException($"AdditionalProperties[\"{key}\"] must be a number, got '{value}'.");
        }
        return n;
    }

    private static int? Integer(AdditionalPropertiesDictionary? extra, string key)
    {
        if (Number(extra, key) is not { } n)
        {
            return null;
        }
        if (n != Math.Floor(n) || n < int.MinValue || n > int.MaxValue)
        {
            throw new ArgumentException($"AdditionalProperties[\"{key}\"] must be a whole number, got {n.ToString(CultureInfo.InvariantCulture)}.");
        }
        return (int)n;
    }

    private static bool Flag(AdditionalPropertiesDictionary? extra, string key)
    {
        if (extra is null || !extra.TryGetValue(key, out object? value) || value is null)
        {
            return false;
        }
        return value switch
        {
            bool b => b,
            JsonElement { ValueKind: JsonValueKind.True } => true,
            JsonElement { ValueKind: JsonValueKind.False } => false,
            _ => throw new ArgumentException($"AdditionalProperties[\"{key}\"] must be true or false, got '{value}'."),
        };
    }
}
