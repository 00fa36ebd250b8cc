using MeDlm.Decoding;

namespace MeDlm.Generation;

/// <summary>What one generation produced.</summary>
public sealed class GenerationResult
{
    // Made by the generator only (the required properties make it set them all).
    internal GenerationResult()
    {
    }

    /// <summary>The response decoded up to its first END or PAD token, special tokens skipped.</summary>
    public required string Text { get; init; }

    /// <summary>The whole response canvas (everything after the prompt) as decoded, END/PAD included.</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }

    /// <summary>
    /// Tokens of the answer: the response before its first END / PAD / EOS (<see cref="AnswerText.AnswerLength"/>).
    /// What <see cref="Text"/> decodes, what usage counts as completion tokens and what <c>medlm bench</c> counts.
    /// </summary>
    public required int AnswerLength { get; init; }

    /// <summary>Where the text of each answer token ends in <see cref="Text"/> (the decode's streaming pieces).</summary>
    internal int[] AnswerPieceEnds { get; init; } = [];

    /// <summary>The answer's token ids: the first <see cref="AnswerLength"/> of <see cref="TokenIds"/>.</summary>
    public ReadOnlySpan<int> AnswerTokenIds => ((int[])TokenIds).AsSpan(0, AnswerLength);

    /// <summary>The stage-1 draft after the between-stages transform, decoded like <see cref="Text"/>.</summary>
    public required string DraftText { get; init; }

    /// <summary>The stage-1 draft token ids after the between-stages transform.</summary>
    public required IReadOnlyList<int> DraftTokenIds { get; init; }

    /// <summary>Tokens of the draft's answer (as <see cref="AnswerLength"/>).</summary>
    public required int DraftAnswerLength { get; init; }

    /// <summary>The draft answer's token ids: the first <see cref="DraftAnswerLength"/> of <see cref="DraftTokenIds"/>.</summary>
    public ReadOnlySpan<int> DraftAnswerTokenIds => ((int[])DraftTokenIds).AsSpan(0, DraftAnswerLength);

    /// <summary>The prompt ids the model saw.</summary>
    public required IReadOnlyList<int> PromptTokenIds { get; init; }

    /// <summary>Passes, commits, edits and timings.</summary>
    public required GenerationStats Stats { get; init; }

    /// <summary>
    /// The answer ran into the generation length (OpenAI's finish reason "length"): its first END / PAD
    /// is missing or sits in the last of the G slots or beyond. The END that the between-stages transform
    /// writes into the last slot closes a cut answer, not a finished one, so an answer that fills every
    /// slot counts as cut even when the model meant to end there.
    /// </summary>
    public required bool ReachedLengthLimit { get; init; }

    /// <summary>
    /// The request's <see cref="GenerationRequest.CancellationToken"/> stopped it before it finished: the
    /// text and ids are the canvas as it was (masks included), not an answer.
    /// </summary>
    public required bool Cancelled { get; init; }
}

/// <summary>Statistics of one generation.</summary>
public sealed class GenerationStats
{
    // Made by the generator only (the required properties make it set them all).
    internal GenerationStats()
    {
    }

    /// <summary>Prompt length in tokens.</summary>
    public required int PromptTokens { get; init; }

    /// <summary>Stage-1 forward passes.</summary>
    public required int MaskPasses { get; init; }

    /// <summary>Edit rounds run (each one forward pass with both heads), the fixed-point round included.</summary>
    public required int EditPasses { get; init; }

    /// <summary>Edit rounds the request allowed.</summary>
    public required int PlannedEditRounds { get; init; }

    /// <summary>Edit rounds not needed because the sequence reached its fixed point.</summary>
    public int EditRoundsSaved => PlannedEditRounds - EditPasses;

    /// <summary>Whether an edit round found nothing to change.</summary>
    public required bool ReachedFixedPoint { get; init; }

    /// <summary>All forward passes of this sequence.</summary>
    public int TotalPasses => MaskPasses + EditPasses;

    /// <summary>Tokens committed by each stage-1 pass.</summary>
    public required IReadOnlyList<int> TokensCommittedPerPass { get; init; }

    /// <summary>Absolute positions (prompt included) committed by each stage-1 pass, ascending.</summary>
    public required IReadOnlyList<IReadOnlyList<int>> CommittedPositions { get; init; }

    /// <summary>Edits applied, by kind (insertions dropped by the length cap counted apart).</summary>
    public required EditTotals Edits { get; init; }

    /// <summary>
    /// Time inside ONNX Runtime during the passes this sequence took part in (in a batch, the whole
    /// batch's passes: the sequence waited for them).
    /// </summary>
    public required TimeSpan ModelTime { get; init; }

    /// <summary>Time of those passes spent outside ONNX Runtime (batching, kernels, edits): the runtime's own overhead.</summary>
    public required TimeSpan OverheadTime { get; init; }
}
