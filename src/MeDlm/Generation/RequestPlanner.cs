using MeDlm.Decoding;
using MeDlm.Model;

namespace MeDlm.Generation;

/// <summary>
/// The one place where a <see cref="GenerationRequest"/> meets the model: defaults from the manifest, the
/// budget split, and every rule a request must satisfy (docs/DESIGN.md §4.5). Every host plans through it.
/// </summary>
internal static class RequestPlanner
{
    public static GenerationPlan Plan(ModelPackage package, GenerationRequest request, int requestIndex)
    {
        ArgumentNullException.ThrowIfNull(request);
        var p = new Checker(requestIndex);
        ModelManifest m = package.Manifest;
        GenerationDefaults d = m.Generation;
        if (request.AutoBudget)
        {
            // docs/DESIGN.md §2.11: the measured setting replaces the defaults; the request's own settings still win.
            p.Require(request.Budget is null, nameof(request.AutoBudget),
                $"Budget auto and a budget fraction ({request.Budget}) exclude each other ({p.Who}).");
            p.Require(d.Auto is not null, nameof(request.AutoBudget),
                $"Budget auto needs a measured setting, but model {m.Name} has no generation.auto (write one with medlm eval --write-auto) ({p.Who}).");
            d = d.WithAuto();
        }

        int[] prompt = PromptIds(package, request, p);

        int genLength = request.GenLength ?? d.GenLength;
        p.Require(genLength > 0, nameof(request.GenLength), $"GenLength must be positive ({p.Who} has {genLength}).");
        if (prompt.Length + genLength > m.MaxSequenceLength)
        {
            throw new GenerationRequestException(request.GenLength is null ? PromptProperty(request) : nameof(request.GenLength),
                $"The model's maximum context length is {m.MaxSequenceLength} tokens, but the prompt has {prompt.Length} tokens and GenLength is {genLength}: {prompt.Length + genLength} tokens ({p.Who}).",
                requestIndex, GenerationRequestError.ContextLengthExceeded);
        }

        DecodingAlgorithm algorithm = request.Algorithm ?? d.Algorithm;
        p.Require(Enum.IsDefined(algorithm), nameof(request.Algorithm), $"Unknown algorithm {algorithm} ({p.Who}).");
        bool dream = m.ShiftedLogits;
        DreamSettings dreamSettings = DreamPlanner.Resolve(m, request, algorithm, p.Who, requestIndex);

        double budget = request.Budget ?? d.Budget;
        p.Require(Budget.IsValid(budget), nameof(request.Budget), $"Budget must be in (0, 1] ({p.Who} has {budget}).");
        double editShare = package.HasEditHead ? d.EditShare : 0.0;
        (int budgetMasks, int budgetEdits) = Budget.Split(genLength, budget, editShare);

        p.Require(request.MaskSteps is null || request.MaskSteps > 0, nameof(request.MaskSteps),
            $"MaskSteps must be positive ({p.Who} has {request.MaskSteps}).");
        // An auto setting's mask steps, like the manifest's edit rounds, go with no budget of the request's own.
        int maskSteps = request.MaskSteps ?? (request.Budget is null ? d.MaskSteps : null) ?? budgetMasks;
        // The manifest's edit rounds go with the manifest's budget: a request's own budget keeps its split.
        int editSteps = request.EditSteps ?? (request.Budget is null ? d.EditRounds : null) ?? budgetEdits;
        p.Require(editSteps >= 0, nameof(request.EditSteps), $"EditSteps must not be negative ({p.Who} has {editSteps}).");
        p.Require(editSteps == 0 || package.HasEditHead, nameof(request.EditSteps),
            $"EditSteps is {editSteps} but model {m.Name} has no edit head (stage 1 only); set EditSteps to 0.");

        int blockLength = request.BlockLength ?? (genLength == d.GenLength ? d.BlockLength : genLength);
        p.Require(blockLength > 0, nameof(request.BlockLength), $"BlockLength must be positive ({p.Who} has {blockLength}).");
        p.Require(genLength % blockLength == 0, nameof(request.BlockLength),
            $"GenLength {genLength} is not divisible by BlockLength {blockLength} ({p.Who}).");
        int blocks = genLength / blockLength;
        if (dream)
        {
            DreamPlanner.CheckSteps(genLength, blockLength, maskSteps, p.Who, requestIndex);
        }
        else if (algorithm != DecodingAlgorithm.Threshold)
        {
            p.Require(maskSteps <= genLength, nameof(request.MaskSteps),
                $"MaskSteps {maskSteps} exceeds GenLength {genLength}: some passes would commit nothing ({p.Who}).");
            p.Require(maskSteps % blocks == 0, nameof(request.MaskSteps),
                $"MaskSteps {maskSteps} is not divisible by the number of blocks {blocks} (GenLength {genLength} / BlockLength {blockLength}) ({p.Who}).");
        }

        double temperature = request.Temperature ?? d.Temperature;
        p.Require(temperature >= 0 && !double.IsInfinity(temperature), nameof(request.Temperature),
            $"Temperature must be a finite number >= 0 ({p.Who} has {temperature}).");
        p.Require(request.CfgScale >= 0 && !double.IsInfinity(request.CfgScale), nameof(request.CfgScale),
            $"CfgScale must be a finite number >= 0 ({p.Who} has {request.CfgScale}).");
        double threshold = request.Threshold ?? d.Threshold;
        p.Require(threshold > 0 && threshold <= 1, nameof(request.Threshold), $"Threshold must be in (0, 1] ({p.Who} has {threshold}).");

        double editThreshold = request.EditThreshold ?? d.EditThreshold;
        p.Require(editThreshold >= 0 && editThreshold <= 1, nameof(request.EditThreshold),
            $"EditThreshold must be in [0, 1], 0 for every edit ({p.Who} has {editThreshold}).");
        p.Require(request.EditThreshold is not > 0 || package.HasEditHead, nameof(request.EditThreshold),
            $"EditThreshold gates edit rounds, but model {m.Name} has no edit head (stage 1 only); leave it unset or 0.");
        double switchThreshold = request.SwitchThreshold ?? d.SwitchThreshold;
        p.Require(switchThreshold >= 0 && switchThreshold <= 1, nameof(request.SwitchThreshold),
            $"SwitchThreshold must be in [0, 1], 0 for off ({p.Who} has {switchThreshold}).");
        p.Require(switchThreshold == 0 || !(dream || algorithm == DecodingAlgorithm.Random), nameof(request.SwitchThreshold),
            $"SwitchThreshold compares confidences, which algorithm {DecodingAlgorithms.Name(algorithm)} does not rank by ({p.Who} has {switchThreshold}).");

        if (m.DenoiserTopK > 0 && (temperature > 0 || request.CfgScale > 0))
        {
            throw new GenerationRequestException(temperature > 0 ? nameof(request.Temperature) : nameof(request.CfgScale),
                $"Model {m.Name} outputs the top-{m.DenoiserTopK} logits per position, which decode greedily only: " +
                $"Temperature and CfgScale need the full logits (re-export with full outputs) ({p.Who} has Temperature {temperature}, CfgScale {request.CfgScale}).",
                requestIndex);
        }

        int lengthCap = request.LengthCap ?? (request.CapAtGenLength ? prompt.Length + genLength : m.MaxSequenceLength);
        p.Require(lengthCap > 0, nameof(request.LengthCap), $"LengthCap must be positive ({p.Who} has {lengthCap}).");
        p.Require(lengthCap <= m.MaxSequenceLength, nameof(request.LengthCap),
            $"LengthCap {lengthCap} exceeds the model's max_sequence_length of {m.MaxSequenceLength} ({p.Who}).");

        return new GenerationPlan(prompt, genLength, blockLength, algorithm, maskSteps, editSteps, temperature, request.CfgScale, threshold,
            request.Seed, request.LogitsEosInf, request.ConfidenceEosEotInf, lengthCap, request.CancellationToken)
        {
            TopP = dreamSettings.TopP,
            TopK = dreamSettings.TopK,
            AlgTemp = dreamSettings.AlgTemp,
            Eps = dreamSettings.Eps,
            EditThreshold = editThreshold,
            SwitchThreshold = switchThreshold,
        };
    }

    private static string PromptProperty(GenerationRequest r) =>
        r.PromptTokenIds is not null ? nameof(r.PromptTokenIds) : r.Messages is not null ? nameof(r.Messages) : nameof(r.Prompt);

    private static int[] PromptIds(ModelPackage package, GenerationRequest request, Checker p)
    {
        int given = (request.Prompt is null ? 0 : 1) + (request.Messages is null ? 0 : 1) + (request.PromptTokenIds is null ? 0 : 1);
        p.Require(given == 1, nameof(request.Prompt), $"Give exactly one of Prompt, Messages or PromptTokenIds ({p.Who} gives {given}).");
        string property = PromptProperty(request);
        int[] ids;
        if (request.PromptTokenIds is { } givenIds)
        {
            ids = [.. givenIds];
            int vocab = package.Manifest.VocabSize;
            foreach (int id in ids)
            {
                p.Require((uint)id < (uint)vocab, property, $"PromptTokenIds holds {id}, outside the vocabulary ({vocab}) ({p.Who}).");
            }
        }
        else
        {
            string text;
            try
            {
                if (request.Messages is { } messages)
                {
                    p.Require(messages.Count > 0, property, $"Messages is empty ({p.Who}).");
                    text = package.Manifest.ChatTemplate.Apply(messages);
                }
                else
                {
                    text = request.RawPrompt ? request.Prompt! : package.Manifest.ChatTemplate.ApplyPrompt(request.Prompt!);
                }
                ids = [.. package.Tokenizer.EncodeToIds(text)];
            }
            catch (ArgumentException e) when (e is not GenerationRequestException)
            {
                // The chat template's and the tokenizer's own checks (roles, text): the message without its parameter suffix.
                string message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
                throw new GenerationRequestException(property, message, p.Index, inner: e);
            }
        }
        p.Require(ids.Length > 0, property, $"The prompt is empty ({p.Who}).");
        return ids;
    }

    private readonly struct Checker(int index)
    {
        public int Index => index;

        public string Who => index == 0 ? "request" : $"request {index}";

        public void Require(bool condition, string property, string message)
        {
            if (!condition)
            {
                throw new GenerationRequestException(property, message, index);
            }
        }
    }
}
