namespace MeDlm.Generation;

/// <summary>Which part of the decoding a streamed step belongs to.</summary>
public enum GenerationStage
{
    /// <summary>A stage-1 pass that replaced masks.</summary>
    Unmasking,

    /// <summary>The between-stages transform (PAD dropped, END written last); not a forward pass.</summary>
    Transition,

    /// <summary>An edit round.</summary>
    Editing,
}

/// <summary>How one canvas position changed.</summary>
public enum TokenChangeKind
{
    /// <summary>A mask became a token.</summary>
    Unmasked,

    /// <summary>A token became another token.</summary>
    Replaced,

    /// <summary>A token was removed; the position refers to the canvas before the step.</summary>
    Deleted,

    /// <summary>A token was inserted; the position refers to the canvas after the step.</summary>
    Inserted,
}

/// <summary>
/// One change of a step. <see cref="Position"/> is an index into the response canvas (prompt excluded):
/// after the step for Unmasked / Replaced / Inserted, before it for Deleted.
/// </summary>
public readonly record struct TokenChange(int Position, TokenChangeKind Kind, int OldTokenId, int NewTokenId);

/// <summary>One streamed step of one request: the canvas after a pass and what the pass changed.</summary>
public sealed class GenerationStep
{
    // Made by the step recorder only (the required properties make it set them all).
    internal GenerationStep()
    {
    }

    /// <summary>Index of the request in its batch (0 for a single request).</summary>
    public required int RequestIndex { get; init; }

    /// <summary>Stage of this step.</summary>
    public required GenerationStage Stage { get; init; }

    /// <summary>
    /// 0-based forward pass of this request (mask passes, then edit rounds); a
    /// <see cref="GenerationStage.Transition"/> step repeats the index of the pass it followed.
    /// </summary>
    public required int PassIndex { get; init; }

    /// <summary>0-based pass within the stage (the mask step, or the edit round).</summary>
    public required int StagePassIndex { get; init; }

    /// <summary>The response canvas after the step (masks included while unmasking).</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }

    /// <summary>The canvas decoded, special tokens (masks) shown.</summary>
    public required string Text { get; init; }

    /// <summary>What changed.</summary>
    public required IReadOnlyList<TokenChange> Changes { get; init; }

    /// <summary>True on the request's last step; <see cref="Result"/> is then set.</summary>
    public bool IsFinal => Result is not null;

    /// <summary>The finished result, on the request's last step only.</summary>
    public GenerationResult? Result { get; internal set; }
}
