namespace MeDlm.Extensions.AI;

/// <summary>
/// Keys of <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/> that
/// <see cref="MeDlmChatClient"/> reads: the diffusion settings ChatOptions has no property for (the same
/// names as the server's <c>medlm</c> request object). Values may be numbers, strings or JsonElements.
/// For everything else, <see cref="Microsoft.Extensions.AI.ChatOptions.RawRepresentationFactory"/> may
/// return a <see cref="Generation.GenerationRequest"/> whose settings are used as the base.
/// </summary>
public static class MeDlmChatOptions
{
    /// <summary>Forward passes per sequence as a fraction of the generation length, in (0, 1]; or the string
    /// <c>"auto"</c>: the model's measured adaptive setting (<see cref="Generation.GenerationRequest.AutoBudget"/>).</summary>
    public const string Budget = "budget";

    /// <summary>Stage-1 (unmasking) passes; overrides the budget's share.</summary>
    public const string MaskSteps = "mask_steps";

    /// <summary>Stage-2 edit rounds (0 = mask only); overrides the budget's share.</summary>
    public const string EditRounds = "edit_rounds";

    /// <summary>The stage-1 algorithm: <c>medlm</c>, <c>low_confidence</c>, <c>random</c> or <c>threshold</c>;
    /// Dream packages: <c>origin</c>, <c>maskgit_plus</c>, <c>topk_margin</c> or <c>entropy</c>.</summary>
    public const string Algorithm = "algorithm";

    /// <summary>Semi-autoregressive block length; must divide the generation length.</summary>
    public const string BlockLength = "block_length";

    /// <summary>Confidence threshold of the <c>threshold</c> algorithm, in (0, 1].</summary>
    public const string Threshold = "threshold";

    /// <summary>
    /// Confidence gate of the edit rounds, in [0, 1]: a replace / delete / insert applies only where its head's
    /// probability is at least this (0 = every edit).
    /// </summary>
    public const string EditThreshold = "edit_threshold";

    /// <summary>
    /// Early switch from stage 1 to the edit rounds, in [0, 1]: once every remaining mask has confidence at least
    /// this, all are committed in that pass and stage 1 ends (0 = off).
    /// </summary>
    public const string SwitchThreshold = "switch_threshold";

    /// <summary>Dream packages: positions drawn from softmax(confidence / alg_temp) (0 = the most confident).</summary>
    public const string AlgTemp = "alg_temp";

    /// <summary>Dream packages: end point eps of the timestep schedule linspace(1, eps, steps + 1).</summary>
    public const string Eps = "eps";

    /// <summary>Classifier-free guidance scale (0 = none).</summary>
    public const string CfgScale = "cfg_scale";

    /// <summary>
    /// When streaming: also yield an update per denoising step, with no text and the
    /// <see cref="Generation.GenerationStep"/> (canvas and edits) as its RawRepresentation.
    /// </summary>
    public const string StreamDenoising = "stream_denoising";
}
