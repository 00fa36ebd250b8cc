using MeDlm.Kernels;

namespace MeDlm.Decoding;

/// <summary>Where a sequence is in its decoding.</summary>
internal enum RowStage
{
    /// <summary>Stage 1: mask steps.</summary>
    Unmasking,

    /// <summary>Stage 2: edit rounds.</summary>
    Editing,

    /// <summary>Finished (all passes spent or the edit fixed point reached).</summary>
    Done,
}

/// <summary>Edits applied to a sequence over all its rounds.</summary>
public readonly record struct EditTotals(int Replaced, int Deleted, int Inserted, int InsertionsDropped)
{
    /// <summary>All applied edits (replacements, deletions and insertions).</summary>
    public int Total => Replaced + Deleted + Inserted;

    internal EditTotals Add(in EditCounts c) =>
        new(Replaced + c.Replaced, Deleted + c.Deleted, Inserted + c.Inserted, InsertionsDropped + c.InsertionsDropped);
}

/// <summary>
/// One sequence's state machine (stage 1 -> transition -> edit rounds -> done) and its buffers, which are
/// sized once per request and reused by every pass. Pooled by <see cref="BatchDecoder"/> across requests.
/// </summary>
internal sealed class RowState
{
    private RowPlan? _plan;

    public RowPlan Plan => _plan ?? throw new InvalidOperationException("The row has no plan.");

    /// <summary>The sequence (prompt + response) in [0, Length); slots past Length are scratch.</summary>
    public long[] Tokens = [];

    /// <summary>Second buffer: the edit kernel writes here, then the two swap (it then holds the previous row).</summary>
    public long[] Spare = [];

    public int Length;
    public int PromptLength;
    public RowStage Stage;

    public int MaskPasses;
    public int EditRounds;
    public bool ReachedFixedPoint;

    /// <summary>Stage 1 ended by the early switch (docs/DESIGN.md §2.6).</summary>
    public bool SwitchedEarly;

    /// <summary>The row left its batch early because its request was cancelled.</summary>
    public bool Cancelled;

    // Stage-1 block state (LLaDA semi-autoregressive blocks; ME-DLM is one block).
    public int Block;
    public int StepInBlock;
    public int BlockMasks; // masks in the block when it started: its schedule commits them over the block's steps

    // Per-position scratch, sized to the row capacity.
    public int[] X0 = [];
    public double[] Conf = [];
    public int[] Selected = [];
    public int[] Cur = [];
    public int[] Nxt = [];
    public double[] NxtConf = []; // edit rounds with a confidence gate: the next-token head's probability per position

    /// <summary>Vocabulary-sized scratch for the classifier-free-guidance logits of one position.</summary>
    public float[] GuidedLogits = [];

    // Results.
    public readonly List<int> CommitCounts = [];
    public readonly List<int> CommitPositions = [];
    public long[] Draft = [];
    public int DraftLength;
    public EditTotals Edits;
    public long OrtTicks;
    public long OtherTicks;

    // Placement in the current forward pass.
    public int BatchRow;
    public int GuidanceRow;

    public ReadOnlySpan<long> Response => Tokens.AsSpan(PromptLength, Length - PromptLength);

    /// <summary>Prepares the row for <paramref name="plan"/>: prompt followed by G masks.</summary>
    public void Reset(RowPlan plan, int maskId, int vocab)
    {
        _plan = plan;
        int cap = plan.Capacity;
        EnsureLength(ref Tokens, cap);
        EnsureLength(ref Spare, cap);
        EnsureLength(ref X0, cap);
        EnsureLength(ref Conf, cap);
        EnsureLength(ref Selected, cap);
        EnsureLength(ref Cur, cap);
        EnsureLength(ref Nxt, cap);
        if (plan.EditThreshold > 0)
        {
            EnsureLength(ref NxtConf, cap);
        }
        EnsureLength(ref Draft, plan.GenLength);
        if (plan.CfgScale > 0)
        {
            EnsureLength(ref GuidedLogits, vocab);
        }
        int p = plan.Prompt.Length;
        for (int i = 0; i < p; i++)
        {
            Tokens[i] = plan.Prompt[i];
        }
        Tokens.AsSpan(p, plan.GenLength).Fill(maskId);
        PromptLength = p;
        Length = p + plan.GenLength;
        Stage = RowStage.Unmasking;
        MaskPasses = 0;
        EditRounds = 0;
        ReachedFixedPoint = false;
        SwitchedEarly = false;
        Cancelled = false;
        Block = 0;
        StepInBlock = 0;
        CommitCounts.Clear();
        CommitPositions.Clear();
        // Capacity up front so that the passes never grow the lists.
        CommitCounts.Capacity = Math.Max(CommitCounts.Capacity, plan.Algorithm == DecodingAlgorithm.Threshold ? plan.GenLength : plan.MaskSteps);
        CommitPositions.Capacity = Math.Max(CommitPositions.Capacity, Length);
        DraftLength = 0;
        Edits = default;
        OrtTicks = 0;
        OtherTicks = 0;
        BatchRow = -1;
        GuidanceRow = -1;
    }

    /// <summary>Start (inclusive) and end (exclusive) of the current stage-1 block.</summary>
    public (int Start, int End) BlockRange
    {
        get
        {
            int s = PromptLength + (Block * Plan.BlockLength);
            return (s, s + Plan.BlockLength);
        }
    }

    private static void EnsureLength<T>(ref T[] array, int length)
    {
        if (array.Length < length)
        {
            array = new T[length];
        }
    }
}
