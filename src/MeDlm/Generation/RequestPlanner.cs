using MeDlm.Decoding;
using MeDlm.Model;

namespace MeDlm.Generation;

/// <summary>Validates a request against the model and resolves its defaults into a <see cref="RowPlan"/>.</summary>
internal static class RequestPlanner
{
    public static RowPlan Plan(ModelPackage package, GenerationRequest request, int requestIndex)
    {
        ArgumentNullException.ThrowIfNull(request);
        ModelManifest m = package.Manifest;
        GenerationDefaults d = m.Generation;
        string who = requestIndex == 0 ? "request" : $"request {requestIndex}";

        int[] prompt = PromptIds(package, request, who);

        int genLength = request.GenLength ?? d.GenLength;
        Require(genLength > 0, $"GenLength must be positive ({who} has {genLength}).");
        if (prompt.Length + genLength > m.MaxSequenceLength)
        {
            throw new ArgumentException(
                $"The prompt has {prompt.Length} tokens and GenLength is {genLength}: {prompt.Length + genLength} tokens exceed the model's max_sequence_length of {m.MaxSequenceLength} ({who}).",
                nameof(request));
        }

        DecodingAlgorithm algorithm = request.Algorithm ?? d.Algorithm;
        Require(Enum.IsDefined(algorithm), $"Unknown algorithm {algorithm} ({who}).");

        double budget = request.Budget ?? d.Budget;
        Require(budget > 0 && budget <= 1, $"Budget must be in (0, 1] ({who} has {budget}).");
        double editShare = package.HasEditHead ? d.EditShare : 0.0;
        (int budgetMasks, int budgetEdits) = Budget.Split(genLength, budget, editShare);

        int maskSteps = request.MaskSteps ?? budgetMasks;
        int editSteps = request.EditSteps ?? budgetEdits;
        Require(request.MaskSteps is null || request.MaskSteps > 0, $"MaskSteps must be positive ({who} has {request.MaskSteps}).");
        Require(editSteps >= 0, $"EditSteps must not be negative ({who} has {editSteps}).");
        if (editSteps > 0 && !package.HasEditHead)
        {
            throw new ArgumentException(
                $"EditSteps is {editSteps} but model {m.Name} has no edit head (stage 1 only); set EditSteps to 0.", nameof(request));
        }

        int blockLength = request.BlockLength ?? (genLength == d.GenLength ? d.BlockLength : genLength);
        Require(blockLength > 0, $"BlockLength must be positive ({who} has {blockLength}).");
        if (genLength % blockLength != 0)
        {
            throw new ArgumentException($"GenLength {genLength} is not divisible by BlockLength {blockLength} ({who}).", nameof(request));
        }
        int blocks = genLength / blockLength;
        if (algorithm != DecodingAlgorithm.Threshold)
        {
            if (maskSteps > genLength)
            {
                throw new ArgumentException(
                    $"MaskSteps {maskSteps} exceeds GenLength {genLength}: some passes would commit nothing ({who}).", nameof(request));
            }
            if (maskSteps % blocks != 0)
            {
                throw new ArgumentException(
                    $"MaskSteps {maskSteps} is not divisible by the number of blocks {blocks} (GenLength {genLength} / BlockLength {blockLength}) ({who}).",
                    nameof(request));
            }
        }

        double temperature = request.Temperature ?? d.Temperature;
        Require(temperature >= 0 && !double.IsInfinity(temperature), $"Temperature must be a finite number >= 0 ({who} has {temperature}).");
        Require(request.CfgScale >= 0 && !double.IsInfinity(request.CfgScale), $"CfgScale must be a finite number >= 0 ({who} has {request.CfgScale}).");
        double threshold = request.Threshold ?? d.Threshold;
        Require(threshold > 0 && threshold <= 1, $"Threshold must be in (0, 1] ({who} has {threshold}).");

        if (m.DenoiserTopK > 0 && (temperature > 0 || request.CfgScale > 0))
        {
            throw new ArgumentException(
                $"Model {m.Name} outputs the top-{m.DenoiserTopK} logits per position, which decode greedily only: " +
                $"Temperature and CfgScale need the full logits (re-export with full outputs) ({who} has Temperature {temperature}, CfgScale {request.CfgScale}).",
                nameof(request));
        }

        int lengthCap = request.LengthCap ?? m.MaxSequenceLength;
        Require(lengthCap > 0, $"LengthCap must be positive ({who} has {lengthCap}).");
        if (lengthCap > m.MaxSequenceLength)
        {
            throw new ArgumentException(
                $"LengthCap {lengthCap} exceeds the model's max_sequence_length of {m.MaxSequenceLength} ({who}).", nameof(request));
        }

        return new RowPlan(requestIndex, prompt, genLength, algorithm, maskSteps, editSteps, blockLength, temperature,
            request.CfgScale, threshold, unchecked((ulong)request.Seed), request.LogitsEosInf, request.ConfidenceEosEotInf,
            lengthCap, m.SpecialTokens)
        {
            Cancellation = request.CancellationToken,
        };
    }

    private static int[] PromptIds(ModelPackage package, GenerationRequest request, string who)
    {
        int given = (request.Prompt is null ? 0 : 1) + (request.Messages is null ? 0 : 1) + (request.PromptTokenIds is null ? 0 : 1);
        if (given != 1)
        {
            throw new ArgumentException($"Give exactly one of Prompt, Messages or PromptTokenIds ({who} gives {given}).", nameof(request));
        }
        int[] ids;
        if (request.PromptTokenIds is { } given_ids)
        {
            ids = [.. given_ids];
            int vocab = package.Manifest.VocabSize;
            foreach (int id in ids)
            {
                if ((uint)id >= (uint)vocab)
                {
                    throw new ArgumentException($"PromptTokenIds holds {id}, outside the vocabulary ({vocab}) ({who}).", nameof(request));
                }
            }
        }
        else if (request.Messages is { } messages)
        {
            Require(messages.Count > 0, $"Messages is empty ({who}).");
            ids = [.. package.Tokenizer.EncodeToIds(package.Manifest.ChatTemplate.Apply(messages))];
        }
        else
        {
            string text = request.RawPrompt ? request.Prompt! : package.Manifest.ChatTemplate.ApplyPrompt(request.Prompt!);
            ids = [.. package.Tokenizer.EncodeToIds(text)];
        }
        Require(ids.Length > 0, $"The prompt is empty ({who}).");
        return ids;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
