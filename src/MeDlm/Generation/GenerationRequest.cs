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

    /// <summary>Stage-1 passes; overrides the budget's share. Ignored by <see cref="DecodingAlgorithm.Threshold"/>.</summary>
    public int? MaskSteps { get; init; }

    /// <summary>Edit rounds allowed (0 = stage 1 only); overrides the budget's share. Needs an edit head.</summary>
    public int? EditSteps { get; init; }

    /// <summary>Stage-1 algorithm (default: the manifest's).</summary>
    public DecodingAlgorithm? Algorithm { get; init; }

    /// <summary>Semi-autoregressive block length; must divide G (default: G, one block).</summary>
    public int? BlockLength { get; init; }

    /// <summary>Gumbel-max sampling temperature for stage 1; 0 is greedy (default: the manifest's).</summary>
    public double? Temperature { get; init; }

    /// <summary>Classifier-free guidance scale s &gt;= 0; with s &gt; 0 each pass adds an unconditional row.</summary>
    public double CfgScale { get; init; }

    /// <summary>Confidence threshold tau of <see cref="DecodingAlgorithm.Threshold"/> (default: the manifest's, else 0.9).</summary>
    public double? Threshold { get; init; }

    /// <summary>Seed of the counter RNG (temperature and random remasking).</summary>
    public long Seed { get; init; }

    /// <summary>LLaDA <c>logits_eos_inf</c>: never predict PAD/EOS in stage 1.</summary>
    public bool LogitsEosInf { get; init; }

    /// <summary>LLaDA <c>confidence_eos_eot_inf</c>: PAD/EOS and END get zero confidence in stage 1 (only END with a temperature).</summary>
    public bool ConfidenceEosEotInf { get; init; }

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
