using System.Text.RegularExpressions;
using MeDlm.Tokenization;

namespace MeDlm.Server.Endpoints;

/// <summary>One sequence to generate: the library's checked plan and the prompt text (for <c>echo</c>).</summary>
/// <param name="Plan">What the generator runs, planned by <see cref="Generator.Plan"/>.</param>
/// <param name="PromptText">The prompt text as given (completions; empty for chat).</param>
public sealed record PlannedSequence(GenerationPlan Plan, string PromptText);

/// <summary>
/// Turns a parsed request into <see cref="PlannedSequence"/>s. The library plans (defaults, budget split,
/// every rule: <see cref="Generator.Plan"/>); the server adds only its own limits (generation length,
/// prompt tokens, forward passes, prompts per request) and reports the library's errors under the wire
/// names of the request fields, so that a bad request is answered 400 before anything is queued.
/// </summary>
public static partial class GenerationPlanner
{
    /// <summary>Plans a completion: one sequence per prompt, each prompt used as raw text.</summary>
    public static IReadOnlyList<PlannedSequence> Plan(CompletionRequestBody body, LoadedModel model, RequestLimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(limits);
        CheckModel(body.Model, model);
        if (body.Prompts.Count > limits.MaxPromptsPerRequest)
        {
            throw ApiException.Invalid("prompt", $"prompt holds {body.Prompts.Count} prompts; at most {limits.MaxPromptsPerRequest} are allowed per request");
        }
        var plans = new List<PlannedSequence>(body.Prompts.Count);
        foreach (string prompt in body.Prompts)
        {
            if (prompt.Length == 0)
            {
                throw ApiException.Invalid("prompt", "prompt must not be empty");
            }
            GenerationPlan plan = PlanOne(body, "prompt", prompt.Length, prompt, null, model, limits);
            plans.Add(new PlannedSequence(plan, prompt));
        }
        return plans;
    }

    /// <summary>Plans a chat completion: the conversation in the model's chat template.</summary>
    public static PlannedSequence Plan(ChatCompletionRequestBody body, LoadedModel model, RequestLimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(limits);
        CheckModel(body.Model, model);
        long characters = 0;
        foreach (ChatMessage message in body.Messages)
        {
            characters += message.Content.Length;
        }
        GenerationPlan plan = PlanOne(body, "messages", characters, null, body.Messages, model, limits);
        return new PlannedSequence(plan, string.Empty);
    }

    private static void CheckModel(string? requested, LoadedModel model)
    {
        if (requested is not null && !string.Equals(requested, model.Id, StringComparison.Ordinal))
        {
            throw new ApiException(StatusCodes.Status404NotFound,
                $"The model '{requested}' does not exist; this server serves '{model.Id}'.", "model", "model_not_found");
        }
    }

    /// <summary>Plans one sequence: a raw <paramref name="prompt"/> (completions) or <paramref name="messages"/> (chat).</summary>
    private static GenerationPlan PlanOne(GenerationRequestBody body, string promptParam, long promptCharacters, string? prompt,
        IReadOnlyList<ChatMessage>? messages, LoadedModel model, RequestLimitsOptions limits)
    {
        ModelManifest manifest = model.Package.Manifest;
        GenerationDefaults defaults = manifest.Generation;
        MedlmSettings m = body.Medlm;

        // The server's own limit on the generation length; without max_tokens, the model's default within it.
        int genLength = body.MaxTokens ?? Math.Min(defaults.GenLength, limits.MaxGenLength);
        if (genLength < 1 || genLength > limits.MaxGenLength)
        {
            throw ApiException.Invalid("max_tokens", $"max_tokens must be between 1 and {limits.MaxGenLength}, got {genLength}");
        }

        // Cheap upper bound before tokenizing: a token is at least one char, a char at most 3 UTF-8 bytes.
        int maxPrompt = Math.Min(limits.MaxPromptTokens, manifest.MaxSequenceLength);
        if (promptCharacters > (long)maxPrompt * 64)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"The prompt ({promptCharacters} characters) is far longer than the {maxPrompt} tokens allowed.", promptParam, "context_length_exceeded");
        }

        // Without a seed, sampling differs per request as OpenAI's does; greedy decoding ignores it.
        double temperature = body.Temperature ?? defaults.Temperature;
        long seed = body.Seed ?? (temperature > 0 ? Random.Shared.NextInt64() : 0);
        var request = new GenerationRequest
        {
            Prompt = prompt,
            RawPrompt = true,
            Messages = messages,
            GenLength = genLength,
            Budget = m.Budget,
            AutoBudget = m.AutoBudget,
            MaskSteps = m.MaskSteps,
            EditSteps = m.EditRounds,
            Algorithm = m.Algorithm,
            BlockLength = m.BlockLength,
            Temperature = body.Temperature,
            Threshold = m.Threshold,
            EditThreshold = m.EditThreshold,
            SwitchThreshold = m.SwitchThreshold,
            TopP = body.TopP,
            TopK = m.TopK,
            AlgTemp = m.AlgTemp,
            Eps = m.Eps,
            Seed = seed,
            // max_tokens bounds the answer: edit insertions past it are dropped, as past the model's context.
            CapAtGenLength = true,
        };

        GenerationPlan plan;
        try
        {
            plan = model.Generator.Plan(request);
        }
        catch (GenerationRequestException e)
        {
            throw ToApiError(e, promptParam);
        }

        int promptTokens = plan.PromptTokenIds.Count;
        if (promptTokens > limits.MaxPromptTokens)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"The prompt has {promptTokens} tokens; this server allows at most {limits.MaxPromptTokens}.", promptParam, "context_length_exceeded");
        }
        if (plan.MaxForwardPasses > limits.MaxSteps)
        {
            throw ApiException.Invalid(m.EditRounds is not null ? "medlm.edit_rounds" : "medlm.mask_steps",
                $"The request plans {plan.MaxForwardPasses} forward passes ({plan.MaxMaskPasses} mask steps + {plan.EditRounds} edit rounds); at most {limits.MaxSteps} are allowed");
        }
        return plan;
    }

    /// <summary>The library's error under the request fields' wire names.</summary>
    internal static ApiException ToApiError(GenerationRequestException e, string promptParam)
    {
        ArgumentNullException.ThrowIfNull(e);
        // As OpenAI's API does, a context overflow is the prompt's fault, whatever the library blames.
        string param = e.Error == GenerationRequestError.ContextLengthExceeded ? promptParam : WireName(e.Property, promptParam);
        string message = PropertyName().Replace(e.Message, match => WireName(match.Value, promptParam));
        message = message.Replace(" (request)", "", StringComparison.Ordinal).Replace(" (request has ", " (got ", StringComparison.Ordinal);
        string code = e.Error == GenerationRequestError.ContextLengthExceeded ? "context_length_exceeded" : "invalid_value";
        return new ApiException(StatusCodes.Status400BadRequest, message, param, code);
    }

    private static string WireName(string property, string promptParam) => property switch
    {
        nameof(GenerationRequest.GenLength) or nameof(GenerationRequest.LengthCap) => "max_tokens",
        nameof(GenerationRequest.Budget) or nameof(GenerationRequest.AutoBudget) => "medlm.budget",
        nameof(GenerationRequest.MaskSteps) => "medlm.mask_steps",
        nameof(GenerationRequest.EditSteps) => "medlm.edit_rounds",
        nameof(GenerationRequest.BlockLength) => "medlm.block_length",
        nameof(GenerationRequest.Algorithm) => "medlm.algorithm",
        nameof(GenerationRequest.Threshold) => "medlm.threshold",
        nameof(GenerationRequest.EditThreshold) => "medlm.edit_threshold",
        nameof(GenerationRequest.SwitchThreshold) => "medlm.switch_threshold",
        nameof(GenerationRequest.Temperature) => "temperature",
        nameof(GenerationRequest.TopP) => "top_p",
        nameof(GenerationRequest.TopK) => "medlm.top_k",
        nameof(GenerationRequest.AlgTemp) => "medlm.alg_temp",
        nameof(GenerationRequest.Eps) => "medlm.eps",
        nameof(GenerationRequest.Seed) => "seed",
        nameof(GenerationRequest.Prompt) or nameof(GenerationRequest.Messages) or nameof(GenerationRequest.PromptTokenIds) => promptParam,
        _ => property,
    };

    /// <summary>The request property names that the library's messages use.</summary>
    [GeneratedRegex(@"\b(GenLength|LengthCap|Budget|MaskSteps|EditSteps|BlockLength|EditThreshold|SwitchThreshold|Threshold|Temperature|TopP|TopK|AlgTemp|Eps)\b", RegexOptions.CultureInvariant)]
    private static partial Regex PropertyName();
}
