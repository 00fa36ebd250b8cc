using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;
using MeDlm.Server.Contracts;
using MeDlm.Server.Hosting;
using MeDlm.Tokenization;

namespace MeDlm.Server.Endpoints;

/// <summary>One sequence to generate, fully checked: its prompt ids, settings and planned passes.</summary>
/// <param name="PromptTokenIds">The tokenized prompt (chat template applied for chat).</param>
/// <param name="PromptText">The prompt text (for <c>echo</c>).</param>
/// <param name="GenLength">Masks appended after the prompt.</param>
/// <param name="MaskSteps">Stage-1 passes (an upper bound for the threshold algorithm).</param>
/// <param name="EditRounds">Stage-2 rounds allowed.</param>
/// <param name="Algorithm">The stage-1 algorithm.</param>
/// <param name="BlockLength">The block length.</param>
/// <param name="Temperature">Sampling temperature.</param>
/// <param name="Threshold">Threshold of the threshold algorithm.</param>
/// <param name="Seed">The sampler's seed.</param>
public sealed record PlannedSequence(
    int[] PromptTokenIds,
    string PromptText,
    int GenLength,
    int MaskSteps,
    int EditRounds,
    DecodingAlgorithm Algorithm,
    int BlockLength,
    double Temperature,
    double Threshold,
    long Seed)
{
    /// <summary>The generator request, with the job's cancellation token on it.</summary>
    public GenerationRequest ToRequest(CancellationToken cancellation) => new()
    {
        PromptTokenIds = PromptTokenIds,
        GenLength = GenLength,
        MaskSteps = MaskSteps,
        EditSteps = EditRounds,
        Algorithm = Algorithm,
        BlockLength = BlockLength,
        Temperature = Temperature,
        Threshold = Threshold,
        Seed = Seed,
        // max_tokens bounds the answer: edit insertions past it are dropped, as past the model's context.
        LengthCap = PromptTokenIds.Length + GenLength,
        CancellationToken = cancellation,
    };
}

/// <summary>
/// Turns a parsed request into checked <see cref="PlannedSequence"/>s: the model named, the prompt's
/// length against the limits and the model's context, and every diffusion setting against the same rules
/// the generator applies, so that a bad request is answered 400 before anything is queued.
/// </summary>
public static class GenerationPlanner
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
            plans.Add(PlanOne(body, prompt, "prompt", model, limits));
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
        string text;
        try
        {
            text = model.Package.Manifest.ChatTemplate.Apply(body.Messages);
        }
        catch (ArgumentException e)
        {
            throw ApiException.Invalid("messages", e.Message.Split(" (Parameter", 2)[0]);
        }
        return PlanOne(body, text, "messages", model, limits);
    }

    private static void CheckModel(string? requested, LoadedModel model)
    {
        if (requested is not null && !string.Equals(requested, model.Id, StringComparison.Ordinal))
        {
            throw new ApiException(StatusCodes.Status404NotFound,
                $"The model '{requested}' does not exist; this server serves '{model.Id}'.", "model", "model_not_found");
        }
    }

    private static PlannedSequence PlanOne(GenerationRequestBody body, string promptText, string promptParam, LoadedModel model,
        RequestLimitsOptions limits)
    {
        ModelManifest manifest = model.Package.Manifest;
        GenerationDefaults defaults = manifest.Generation;
        MedlmSettings m = body.Medlm;

        // The generation length first: it bounds how much prompt the context leaves.
        int genLength = body.MaxTokens ?? Math.Min(defaults.GenLength, limits.MaxGenLength);
        if (genLength < 1 || genLength > limits.MaxGenLength)
        {
            throw ApiException.Invalid("max_tokens", $"max_tokens must be between 1 and {limits.MaxGenLength}, got {genLength}");
        }

        // Cheap upper bound before tokenizing: a token is at least one char, a char at most 3 UTF-8 bytes.
        int maxPrompt = Math.Min(limits.MaxPromptTokens, manifest.MaxSequenceLength);
        if (promptText.Length > (long)maxPrompt * 64)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"The prompt ({promptText.Length} characters) is far longer than the {maxPrompt} tokens allowed.", promptParam, "context_length_exceeded");
        }
        int[] ids = [.. model.Package.Tokenizer.EncodeToIds(promptText)];
        if (ids.Length == 0)
        {
            throw ApiException.Invalid(promptParam, $"{promptParam} must not be empty");
        }
        if (ids.Length > limits.MaxPromptTokens)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"The prompt has {ids.Length} tokens; this server allows at most {limits.MaxPromptTokens}.", promptParam, "context_length_exceeded");
        }
        if (ids.Length + genLength > manifest.MaxSequenceLength)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"This model's maximum context length is {manifest.MaxSequenceLength} tokens. However, you requested {ids.Length + genLength} tokens " +
                $"({ids.Length} in the {(promptParam == "messages" ? "messages" : "prompt")}, {genLength} in the completion). " +
                "Please reduce the length of the prompt or max_tokens.",
                promptParam, "context_length_exceeded");
        }

        DecodingAlgorithm algorithm = m.Algorithm ?? defaults.Algorithm;
        int blockLength = m.BlockLength ?? (genLength == defaults.GenLength ? defaults.BlockLength : genLength);
        if (blockLength < 1 || blockLength > genLength || genLength % blockLength != 0)
        {
            throw ApiException.Invalid("medlm.block_length", $"medlm.block_length {blockLength} must divide the generation length {genLength}");
        }
        int blocks = genLength / blockLength;

        bool hasEditHead = model.Package.HasEditHead;
        double budget = m.Budget ?? defaults.Budget;
        (int budgetMasks, int budgetEdits) = Budget.Split(genLength, budget, hasEditHead ? defaults.EditShare : 0.0);
        int maskSteps = m.MaskSteps ?? budgetMasks;
        int editRounds = m.EditRounds ?? budgetEdits;
        if (m.MaskSteps is < 1)
        {
            throw ApiException.Invalid("medlm.mask_steps", $"medlm.mask_steps must be at least 1, got {m.MaskSteps}");
        }
        if (editRounds < 0)
        {
            throw ApiException.Invalid("medlm.edit_rounds", $"medlm.edit_rounds must not be negative, got {editRounds}");
        }
        if (editRounds > 0 && !hasEditHead)
        {
            throw ApiException.Invalid("medlm.edit_rounds", $"model {model.Id} has no edit head; medlm.edit_rounds must be 0");
        }
        if (algorithm == DecodingAlgorithm.Threshold)
        {
            // Steps are variable: at least one position per pass, so at most G passes.
            maskSteps = genLength;
        }
        else
        {
            if (maskSteps > genLength)
            {
                throw ApiException.Invalid("medlm.mask_steps", $"medlm.mask_steps {maskSteps} exceeds the generation length {genLength}: some steps would commit nothing");
            }
            if (maskSteps % blocks != 0)
            {
                throw ApiException.Invalid("medlm.mask_steps",
                    $"medlm.mask_steps {maskSteps} is not divisible by the number of blocks {blocks} (generation length {genLength} / block length {blockLength})");
            }
        }
        if (maskSteps + editRounds > limits.MaxSteps)
        {
            throw ApiException.Invalid(m.EditRounds is not null ? "medlm.edit_rounds" : "medlm.mask_steps",
                $"The request plans {maskSteps + editRounds} forward passes ({maskSteps} mask steps + {editRounds} edit rounds); at most {limits.MaxSteps} are allowed");
        }
        double threshold = m.Threshold ?? defaults.Threshold;
        if (!(threshold > 0 && threshold <= 1))
        {
            throw ApiException.Invalid("medlm.threshold", $"medlm.threshold must be in (0, 1], got {RequestParser.Format(threshold)}");
        }
        double temperature = body.Temperature ?? defaults.Temperature;
        // Without a seed, sampling differs per request as OpenAI's does; greedy decoding ignores it.
        long seed = body.Seed ?? (temperature > 0 ? Random.Shared.NextInt64() : 0);
        return new PlannedSequence(ids, promptText, genLength, maskSteps, editRounds, algorithm, blockLength, temperature, threshold, seed);
    }
}
