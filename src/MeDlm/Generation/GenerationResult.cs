using MeDlm.Decoding;

namespace MeDlm.Generation;

/// <summary>What one generation produced.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(string text, int[] answerPieceEnds, int[] tokenIds, int answerLength, string draftText, int[] draftTokenIds, int draftAnswerLength,
        int[] promptTokenIds, GenerationStats stats, bool reachedLengthLimit, bool cancelled = false)
    {
        AnswerLength = answerLength;
        _answerPieceEnds = answerPieceEnds;
        DraftAnswerLength = draftAnswerLength;
        ReachedLengthLimit = reachedLengthLimit;
        Cancelled = cancelled;
        Text = text;
        TokenIds = tokenIds;
        DraftText = draftText;
        DraftTokenIds = draftTokenIds;
        PromptTokenIds = promptTokenIds;
        Stats = stats;
    }

    /// <summary>The response decoded up to its first END or PAD token, special tokens skipped.</summary>
    public string Text { get; }

    /// <summary>The whole response canvas (everything after the prompt) as decoded, END/PAD included.</summary>
    public IReadOnlyList<int> TokenIds { get; }

    /// <summary>
    /// Tokens of the answer: the response before its first END / PAD / EOS (<see cref="AnswerText.AnswerLength"/>).
    /// What <see cref="Text"/> decodes, what usage counts as completion tokens and what <c>medlm bench</c> counts.
    /// </summary>
    public int AnswerLength { get; }

    private readonly int[] _answerPieceEnds;

    /// <summary>Where the text of each answer token ends in <see cref="Text"/> (the decode's streaming pieces).</summary>
    internal ReadOnlySpan<int> AnswerPieceEnds => _answerPieceEnds;

    /// <summary>The answer's token ids: the first <see cref="AnswerLength"/> of <see cref="TokenIds"/>.</summary>
    public ReadOnlySpan<int> AnswerTokenIds => ((int[])TokenIds).AsSpan(0, AnswerLength);

    /// <summary>The stage-1 draft after the between-stages transform, decoded like <see cref="Text"/>.</summary>
    public string DraftText { get; }

    /// <summary>The stage-1 draft token ids after the between-stages transform.</summary>
    public IReadOnlyList<int> DraftTokenIds { get; }

    /// <summary>Tokens of the draft's answer (as <see cref="AnswerLength"/>).</summary>
    public int DraftAnswerLength { get; }

    /// <summary>The draft answer's token ids: the first <see cref="DraftAnswerLength"/> of <see cref="DraftTokenIds"/>.</summary>
    public ReadOnlySpan<int> DraftAnswerTokenIds => ((int[])DraftTokenIds).AsSpan(0, DraftAnswerLength);

    /// <summary>The prompt ids the model saw.</summary>
    public IReadOnlyList<int> PromptTokenIds { get; }

    /// <summary>Passes, commits, edits and timings.</summary>
    public GenerationStats Stats { get; }

    /// <summary>
    /// The answer ran into the generation length (OpenAI's finish reason "length"): its first END / PAD
    /// is missing or sits in the last of the G slots or beyond. The END that the between-stages transform
    /// writes into the last slot closes a cut answer, not a finished one, so an answer that fills every
    /// slot counts as cut even when the model meant to end there.
    /// </summary>
    public bool ReachedLengthLimit { get; }

    /// <summary>
    /// The request's <see cref="GenerationRequest.CancellationToken"/> stopped it before it finished: the
    /// text and ids are the canvas as it was (masks included), not an answer.
    /// </summary>
    public bool Cancelled { get; }
}

/// <summary>Statistics of one generation.</summary>
public sealed class GenerationStats
{
    internal GenerationStats(int promptTokens, int maskPasses, int editPasses, int plannedEditRounds, bool reachedFixedPoint,
        int[] tokensCommittedPerPass, int[][] committedPositions, EditTotals edits, TimeSpan modelTime, TimeSpan overheadTime)
    {
        PromptTokens = promptTokens;
        MaskPasses = maskPasses;
        EditPasses = editPasses;
        PlannedEditRounds = plannedEditRounds;
        ReachedFixedPoint = reachedFixedPoint;
        TokensCommittedPerPass = tokensCommittedPerPass;
        CommittedPositions = committedPositions;
        Edits = edits;
        ModelTime = modelTime;
        OverheadTime = overheadTime;
    }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; }

    /// <summary>Stage-1 forward passes.</summary>
    public int MaskPasses { get; }

    /// <summary>Edit rounds run (each one forward pass with both heads), the fixed-point round included.</summary>
    public int EditPasses { get; }

    /// <summary>Edit rounds the request allowed.</summary>
    public int PlannedEditRounds { get; }

    /// <summary>Edit rounds not needed because the sequence reached its fixed point.</summary>
    public int EditRoundsSaved => PlannedEditRounds - EditPasses;

    /// <summary>Whether an edit round found nothing to change.</summary>
    public bool ReachedFixedPoint { get; }

    /// <summary>All forward passes of this sequence.</summary>
    public int TotalPasses => MaskPasses + EditPasses;

    /// <summary>Tokens committed by each stage-1 pass.</summary>
    public IReadOnlyList<int> TokensCommittedPerPass { get; }

    /// <summary>Absolute positions (prompt included) committed by each stage-1 pass, ascending.</summary>
    public IReadOnlyList<IReadOnlyList<int>> CommittedPositions { get; }

    /// <summary>Edits applied, by kind (insertions dropped by the length cap counted apart).</summary>
    public EditTotals Edits { get; }

    /// <summary>
    /// Time inside ONNX Runtime during the passes this sequence took part in (in a batch, the whole
    /// batch's passes: the sequence waited for them).
    /// </summary>
    public TimeSpan ModelTime { get; }

    /// <summary>Time of those passes spent outside ONNX Runtime (batching, kernels, edits): the runtime's own overhead.</summary>
    public TimeSpan OverheadTime { get; }
}
