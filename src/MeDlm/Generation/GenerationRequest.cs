using MeDlm.Decoding;
using MeDlm.Tokenization;

namespace MeDlm.Generation;

/// <summary>
/// One generation. Give exactly one of <see cref="Prompt"/>, <see cref="Messages"/> or
/// <see cref="PromptTokenIds"/>. Unset settings come from the model's manifest (<c>generation</c>).
/// </summary>
public sealed class GenerationRequest
{
    /// <summary>A user prompt: wrapped in the chat template (one user turn + generation prompt) unless <see cref="RawPrompt"/>.</summary>
    public string? Prompt { get; init; }

    /// <summary>When true, <see cref="Prompt"/> is tokenized as it is, without the chat template.</summary>
    public bool RawPrompt { get; init; }

    /// <summary>A conversation; the chat template is applied and the generation prompt appended.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>Already tokenized prompt ids, used as they are.</summary>
    public IReadOnlyList<int>? PromptTokenIds { get; init; }

    /// <summary>G: masks appended after the prompt (default: manifest gen_length).</summary>
    public int? GenLength { get; init; }

    /// <summary>
    /// Fraction b of G in (0, 1]: round(G·b) forward passes in total, split into mask steps and edit rounds by
    /// the manifest's edit share (<see cref="Decoding.Budget.Split"/>; text such as "1/8" is read by
    /// <see cref="Decoding.Budget.Parse"/>). Default: the manifest budget.
    /// </summary>
    public double? Budget { get; init; }

    /// <summary>
    /// Budget <c>auto</c> (docs/DESIGN.md §2.11): the settings this request leaves unset come from the package's
    /// measured adaptive setting (manifest <c>generation.auto</c>: algorithm, threshold, edit rounds, edit and switch
    /// thresholds, ...) instead of its plain defaults; settings the request gives still win. Excludes
    /// <see cref="Budget"/>; a package without <c>generation.auto</c> refuses it. Text "auto" is read by
    /// <see cref="Decoding.Budget.TryParse(string?, out double, out bool, out string)"/>.
    /// </summary>
    public bool AutoBudget { get; init; }

    /// <summary>Stage-1 passes; overrides the budget's share. Ignored by <see cref="DecodingAlgorithm.Threshold"/>.</summary>
    public int? MaskSteps { get; init; }

    /// <summary>
    /// Edit rounds allowed (0 = stage 1 only): a cap, since a row stops at its fixed point; overrides the budget's share
    /// (default: the manifest's <c>generation.edit_rounds</c>, else the budget's share). Needs an edit head.
    /// </summary>
    public int? EditSteps { get; init; }

    /// <summary>Stage-1 algorithm (default: the manifest's).</summary>
    public DecodingAlgorithm? Algorithm { get; init; }

    /// <summary>Semi-autoregressive block length; must divide G (default: G, one block).</summary>
    public int? BlockLength { get; init; }

    /// <summary>Stage-1 sampling temperature (Gumbel-max; Dream: categorical after top-p / top-k); 0 is greedy (default: the manifest's).</summary>
    public double? Temperature { get; init; }

    /// <summary>Classifier-free guidance scale s &gt;= 0; with s &gt; 0 each pass adds an unconditional row.</summary>
    public double CfgScale { get; init; }

    /// <summary>Confidence threshold tau of <see cref="DecodingAlgorithm.Threshold"/> (default: the manifest's, else 0.9).</summary>
    public double? Threshold { get; init; }

    /// <summary>
    /// Confidence gate of the edit rounds, in [0, 1] (docs/DESIGN.md §2.3): a replacement or deletion is applied only
    /// where the denoiser's probability of its argmax is at least this, an insertion only where the next-token
    /// head's probability of its argmax is; a round where no gated edit applies is a fixed point. 0 applies every
    /// proposal (default: the manifest's <c>generation.edit_threshold</c>, else 0).
    /// </summary>
    public double? EditThreshold { get; init; }

    /// <summary>
    /// Early switch from stage 1 to the edit rounds, in [0, 1] (docs/DESIGN.md §2.6): in the last block, after a pass's
    /// choice, when every position still masked has a prediction whose probability is at least this (PAD included:
    /// a confident PAD tail counts), they are all committed in the same pass and stage 1 ends. 0 is off (default: the manifest's <c>generation.switch_threshold</c>, else 0). Not with
    /// <see cref="DecodingAlgorithm.Random"/> (its scores are noise) or a Dream package.
    /// </summary>
    public double? SwitchThreshold { get; init; }

    /// <summary>Seed of the counter RNG (temperature and random remasking).</summary>
    public long Seed { get; init; }

    /// <summary>LLaDA <c>logits_eos_inf</c>: never predict PAD/EOS in stage 1.</summary>
    public bool LogitsEosInf { get; init; }

    /// <summary>LLaDA <c>confidence_eos_eot_inf</c>: PAD/EOS and END get zero confidence in stage 1 (only END with a temperature).</summary>
    public bool ConfidenceEosEotInf { get; init; }

    /// <summary>Dream top-p in (0, 1] (1: off; default: the manifest's). Dream packages only.</summary>
    public double? TopP { get; init; }

    /// <summary>Dream top-k &gt;= 0 (0: off; default: the manifest's). Dream packages only.</summary>
    public int? TopK { get; init; }

    /// <summary>Dream alg_temp &gt;= 0: positions drawn from softmax(confidence / alg_temp) (0: the top ones). Dream packages only.</summary>
    public double? AlgTemp { get; init; }

    /// <summary>Dream's schedule end point eps in (0, 1) of linspace(1, eps, steps + 1) (default: the manifest's, else 1e-3).</summary>
    public double? Eps { get; init; }

    /// <summary>
    /// Longest the sequence (prompt + response) may grow through insertions (default: the model's
    /// max_sequence_length, or the prompt + <see cref="GenLength"/> with <see cref="CapAtGenLength"/>).
    /// </summary>
    public int? LengthCap { get; init; }

    /// <summary>
    /// The response never grows past <see cref="GenLength"/> tokens through insertions (OpenAI's
    /// <c>max_tokens</c>: the answer's bound); insertions past it are dropped as past the model's context.
    /// </summary>
    public bool CapAtGenLength { get; init; }

    /// <summary>
    /// Cancels this request alone. The generator checks it before every forward pass: in a batch the
    /// cancelled sequence leaves at the next step and the other rows go on unchanged; its result then has
    /// <see cref="GenerationResult.Cancelled"/> set (and a streamed request gets no final step). The
    /// token passed to the generate call still cancels the whole call.
    /// </summary>
    public CancellationToken CancellationToken { get; init; }
}
