using MeDlm.Kernels;
using MeDlm.Model;

namespace MeDlm.Decoding;

/// <summary>
/// One ME-DLM edit round of one row (docs/DESIGN.md §2.3): cur = the denoiser's argmax per response position, nxt =
/// the next-token head's argmax at the position before (either output form, <see cref="SequenceLogits.NextArgmax(int)"/>), applied by <see cref="Edits.Apply"/>; a fixed
/// point ends the row.
/// </summary>
internal sealed class EditStep(SpecialTokens ids)
{
    public void Run(RowState row, in SequenceLogits logits, IDecodeObserver? observer)
    {
        RowPlan plan = row.Plan;
        int n = row.Length;
        int p = row.PromptLength;
        Span<int> cur = row.Cur.AsSpan(0, n);
        Span<int> nxt = row.Nxt.AsSpan(0, n);
        for (int i = p; i < n; i++)
        {
            cur[i] = logits.Argmax(i, default);
            // nxt[i] = the next-token head at i - 1 (rolled by one, so position 0 wraps to n - 1).
            int j = i == 0 ? n - 1 : i - 1;
            nxt[i] = logits.NextArgmax(j);
        }
        int newLength = Edits.Apply(row.Tokens.AsSpan(0, n), p, cur, nxt, ids.Delete, plan.LengthCap, row.Spare, out EditCounts counts);
        row.EditRounds++;
        if (counts.FixedPoint)
        {
            // Greedy decoding: running on would change nothing, so the row leaves the batch.
            row.ReachedFixedPoint = true;
            row.Stage = RowStage.Done;
            observer?.OnEdit(row, row.Tokens.AsSpan(0, n), cur, nxt, counts);
            return;
        }
        row.Edits = row.Edits.Add(counts);
        (row.Tokens, row.Spare) = (row.Spare, row.Tokens);
        row.Length = newLength;
        if (row.EditRounds == plan.EditSteps)
        {
            row.Stage = RowStage.Done;
        }
        observer?.OnEdit(row, row.Spare.AsSpan(0, n), cur, nxt, counts);
    }
}
