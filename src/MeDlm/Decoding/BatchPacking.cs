using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Decoding;

/// <summary>
/// Places the active rows of a pass in the runner's input: one batch row per active sequence, then one
/// unconditional copy (prompt replaced by MASK) per guided sequence in stage 1; right-padded with PAD and
/// an attention mask, up to the runner's shape bucket.
/// </summary>
internal static class BatchPacking
{
    /// <summary>
    /// Sets <see cref="RowState.BatchRow"/> and <see cref="RowState.GuidanceRow"/> of every row (-1 when it
    /// takes no part), shapes the runner and writes its inputs.
    /// </summary>
    /// <returns>False when no row is active (nothing was written).</returns>
    public static bool Pack(ReadOnlySpan<RowState> rows, ModelRunner runner, SpecialTokens ids, out bool needEditHead)
    {
        int batch = 0;
        int seq = 0;
        needEditHead = false;
        foreach (RowState row in rows)
        {
            row.BatchRow = row.GuidanceRow = -1;
            if (row.Stage == RowStage.Done)
            {
                continue;
            }
            row.BatchRow = batch++;
            seq = Math.Max(seq, row.Length);
            needEditHead |= row.Stage == RowStage.Editing;
        }
        if (batch == 0)
        {
            return false;
        }
        foreach (RowState row in rows)
        {
            if (row.Stage == RowStage.Unmasking && row.Plan.CfgScale > 0)
            {
                row.GuidanceRow = batch++;
            }
        }

        // Padded to the runner's shape buckets: rows are placed at its stride, the padding stays PAD with
        // attention mask 0 (padded keys are masked in the graph; padded rows are never read).
        (int boundBatch, int boundSeq) = runner.Bucketed(batch, seq);
        runner.SetShape(boundBatch, boundSeq);
        seq = boundSeq;
        Span<long> input = runner.InputIds;
        Span<long> mask = runner.AttentionMask;
        input.Fill(ids.Pad);
        mask.Clear();
        foreach (RowState row in rows)
        {
            if (row.BatchRow < 0)
            {
                continue;
            }
            ReadOnlySpan<long> tokens = row.Tokens.AsSpan(0, row.Length);
            tokens.CopyTo(input.Slice(row.BatchRow * seq));
            mask.Slice(row.BatchRow * seq, row.Length).Fill(1);
            if (row.GuidanceRow >= 0)
            {
                Span<long> u = input.Slice(row.GuidanceRow * seq, row.Length);
                tokens.CopyTo(u);
                u[..row.PromptLength].Fill(ids.Mask);
                mask.Slice(row.GuidanceRow * seq, row.Length).Fill(1);
            }
        }
        return true;
    }
}
