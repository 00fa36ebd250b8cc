using MeDlm.Decoding;
using MeDlm.Generation;

namespace MeDlm.Server.Contracts;

/// <summary>
/// The diffusion settings OpenAI has no field for, carried in the extra <c>medlm</c> object of a
/// completion or chat request. Every field is optional; absent fields take the model's defaults.
/// </summary>
public sealed record MedlmSettings
{
    /// <summary>The settings of a request without a <c>medlm</c> object.</summary>
    public static MedlmSettings None { get; } = new();

    /// <summary>Forward passes allowed per sequence as a fraction of the generation length, in (0, 1].</summary>
    public double? Budget { get; init; }

    /// <summary>Budget <c>"auto"</c>: the model's measured adaptive setting (<see cref="GenerationRequest.AutoBudget"/>).</summary>
    public bool AutoBudget { get; init; }

    /// <summary>Stage-1 (unmasking) steps; with <see cref="EditRounds"/> overrides the budget split.</summary>
    public int? MaskSteps { get; init; }

    /// <summary>Stage-2 edit rounds (0 = mask-only).</summary>
    public int? EditRounds { get; init; }

    /// <summary>The stage-1 algorithm.</summary>
    public DecodingAlgorithm? Algorithm { get; init; }

    /// <summary>Semi-autoregressive block length; must divide the generation length.</summary>
    public int? BlockLength { get; init; }

    /// <summary>Confidence threshold of the <c>threshold</c> algorithm, in (0, 1].</summary>
    public double? Threshold { get; init; }

    /// <summary>Confidence gate of the edit rounds, in [0, 1] (0: every edit applies).</summary>
    public double? EditThreshold { get; init; }

    /// <summary>Early switch from stage 1 to the edit rounds, in [0, 1] (0: off).</summary>
    public double? SwitchThreshold { get; init; }

    /// <summary>Dream top-k (0: off); Dream packages only.</summary>
    public int? TopK { get; init; }

    /// <summary>Dream alg_temp (0: the most confident positions); Dream packages only.</summary>
    public double? AlgTemp { get; init; }

    /// <summary>Dream's schedule end point eps, in (0, 1); Dream packages only.</summary>
    public double? Eps { get; init; }

    /// <summary>When streaming: also send the canvas after every step, with the edits of each round.</summary>
    public bool StreamDenoising { get; init; }
}
