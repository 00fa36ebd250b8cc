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
    public static DreamSettings Resolve(ModelManifest m, GenerationRequest request, DecodingAlgorithm algorithm, string who)
    {
        GenerationDefaults d = m.Generation;
        bool dream = m.ShiftedLogits;
        if (DecodingAlgorithms.IsDream(algorithm) != dream)
        {
            throw new ArgumentException(dream
                ? $"Algorithm {DecodingAlgorithms.Name(algorithm)} does not decode model {m.Name}, a Dream package (shifted logits): use origin, maskgit_plus, topk_margin or entropy ({who})."
                : $"Algorithm {DecodingAlgorithms.Name(algorithm)} is one of Dream's and needs a Dream package (shifted logits); model {m.Name} is {m.Architecture} ({who}).",
                nameof(request));
        }
        if (!dream)
        {
            if (request.TopP is not null || request.TopK is not null || request.AlgTemp is not null || request.Eps is not null)
            {
                throw new ArgumentException(
                    $"TopP, TopK, AlgTemp and Eps are Dream settings; model {m.Name} is {m.Architecture} ({who}).", nameof(request));
            }
            return new DreamSettings(1.0, 0, 0.0, d.Eps);
        }
        if (request.CfgScale != 0 || request.Threshold is not null || request.LogitsEosInf || request.ConfidenceEosEotInf)
        {
            throw new ArgumentException(
                $"CfgScale, Threshold, LogitsEosInf and ConfidenceEosEotInf are LLaDA / Fast-dLLM settings; model {m.Name} is a Dream package ({who}).",
                nameof(request));
        }
        double topP = request.TopP ?? d.TopP;
        Require(topP > 0 && topP <= 1, $"TopP must be in (0, 1] ({who} has {topP}).");
        int topK = request.TopK ?? d.TopK;
        Require(topK >= 0, $"TopK must be >= 0, 0 for off ({who} has {topK}).");
        double algTemp = request.AlgTemp ?? d.AlgTemp;
        Require(algTemp >= 0 && !double.IsInfinity(algTemp), $"AlgTemp must be a finite number >= 0 ({who} has {algTemp}).");
        double eps = request.Eps ?? d.Eps;
        Require(eps > 0 && eps < 1, $"Eps must be in (0, 1) ({who} has {eps}).");
        return new DreamSettings(topP, topK, algTemp, eps);
    }

    /// <summary>Dream decodes one block; any positive step count is allowed (Dream's schedule may commit nothing on a step).</summary>
    public static void CheckSteps(GenerationRequest request, int genLength, int blockLength, int maskSteps, string who)
    {
        if (blockLength != genLength)
        {
            throw new ArgumentException(
                $"BlockLength {blockLength} differs from GenLength {genLength}: Dream decodes the whole response as one block ({who}).",
                nameof(request));
        }
        Require(maskSteps > 0, $"MaskSteps must be positive ({who} has {maskSteps}).");
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}
