using MeDlm.Decoding;
using MeDlm.Model;

namespace MeDlm.Generation;

/// <summary>Dream's resolved settings of one request (top-p, top-k, alg_temp, eps).</summary>
internal readonly record struct DreamSettings(double TopP, int TopK, double AlgTemp, double Eps);

/// <summary>
/// The Dream half of request planning: which algorithms and settings a package accepts (Dream algorithms
/// and settings on a shifted-logits package only, and nothing else there), with their defaults.
/// </summary>
internal static class DreamPlanner
{
    public static DreamSettings Resolve(ModelManifest m, GenerationRequest request, DecodingAlgorithm algorithm, string who, int index)
    {
        GenerationDefaults d = m.Generation;
        bool dream = m.ShiftedLogits;
        if (DecodingAlgorithms.IsDream(algorithm) != dream)
        {
            throw new GenerationRequestException(nameof(request.Algorithm), dream
                ? $"Algorithm {DecodingAlgorithms.Name(algorithm)} does not decode model {m.Name}, a Dream package (shifted logits): use origin, maskgit_plus, topk_margin or entropy ({who})."
                : $"Algorithm {DecodingAlgorithms.Name(algorithm)} is one of Dream's and needs a Dream package (shifted logits); model {m.Name} is {m.Architecture} ({who}).", index);
        }
        if (!dream)
        {
            string? dreamOnly = request.TopP is not null ? nameof(request.TopP) : request.TopK is not null ? nameof(request.TopK)
                : request.AlgTemp is not null ? nameof(request.AlgTemp) : request.Eps is not null ? nameof(request.Eps) : null;
            if (dreamOnly is not null)
            {
                throw new GenerationRequestException(dreamOnly,
                    $"TopP, TopK, AlgTemp and Eps are Dream settings; model {m.Name} is {m.Architecture} ({who}).", index);
            }
            return new DreamSettings(1.0, 0, 0.0, d.Eps);
        }
        string? llada = request.CfgScale != 0 ? nameof(request.CfgScale) : request.Threshold is not null ? nameof(request.Threshold)
            : request.LogitsEosInf ? nameof(request.LogitsEosInf) : request.ConfidenceEosEotInf ? nameof(request.ConfidenceEosEotInf) : null;
        if (llada is not null)
        {
            throw new GenerationRequestException(llada,
                $"CfgScale, Threshold, LogitsEosInf and ConfidenceEosEotInf are LLaDA / Fast-dLLM settings; model {m.Name} is a Dream package ({who}).",
                index);
        }
        double topP = request.TopP ?? d.TopP;
        Require(topP > 0 && topP <= 1, nameof(request.TopP), index, $"TopP must be in (0, 1] ({who} has {topP}).");
        int topK = request.TopK ?? d.TopK;
        Require(topK >= 0, nameof(request.TopK), index, $"TopK must be >= 0, 0 for off ({who} has {topK}).");
        double algTemp = request.AlgTemp ?? d.AlgTemp;
        Require(algTemp >= 0 && !double.IsInfinity(algTemp), nameof(request.AlgTemp), index, $"AlgTemp must be a finite number >= 0 ({who} has {algTemp}).");
        double eps = request.Eps ?? d.Eps;
        Require(eps > 0 && eps < 1, nameof(request.Eps), index, $"Eps must be in (0, 1) ({who} has {eps}).");
        return new DreamSettings(topP, topK, algTemp, eps);
    }

    /// <summary>Dream decodes one block; any positive step count is allowed (Dream's schedule may commit nothing on a step).</summary>
    public static void CheckSteps(int genLength, int blockLength, int maskSteps, string who, int index)
    {
        Require(blockLength == genLength, nameof(GenerationRequest.BlockLength), index,
            $"BlockLength {blockLength} differs from GenLength {genLength}: Dream decodes the whole response as one block ({who}).");
        Require(maskSteps > 0, nameof(GenerationRequest.MaskSteps), index, $"MaskSteps must be positive ({who} has {maskSteps}).");
    }

    private static void Require(bool condition, string property, int index, string message)
    {
        if (!condition)
        {
            throw new GenerationRequestException(property, message, index);
        }
    }
}
