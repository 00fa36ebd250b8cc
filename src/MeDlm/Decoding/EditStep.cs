using MeDlm.Kernels;
using MeDlm.Model;

namespace MeDlm.Decoding;

/// <summary>
/// One ME-DLM edit round of one row (docs/DESIGN.md §2.3): cur = the denoiser's argmax per response position, nxt =
/// the next-token head's argmax at the position before (either output form, <see cref="SequenceLogits.NextArgmax(int)"/>), gated by
/// their probabilities when the plan has an edit threshold (<see cref="Edits.Gate"/>), applied by <see cref="Edits.Apply"/>; a fixed
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
        double threshold = plan.EditThreshold;
        if (threshold > 0)
        {
            Propose(row, logits, threshold);
        }
        else
        {
            for (int i = p; i < n; i++)
            {
                cur[i] = logits.Argmax(i, default);
                // nxt[i] = the next-token head at i - 1 (rolled by one, so position 0 wraps to n - 1).
                int j = i == 0 ? n - 1 : i - 1;
                nxt[i] = logits.NextArgmax(j);
            }
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

    /// <summary>
    /// The heads' proposals with their probabilities, then the confidence gate (<see cref="Edits.Gate"/>). The
    /// probabilities come from the fast kernel where the view has no exact one; only those within its error of
    /// the threshold are recomputed in float64, so the gate decides as the reference does (docs/DESIGN.md §2.8).
    /// </summary>
    private static void Propose(RowState row, in SequenceLogits logits, double threshold)
    {
        int n = row.Length;
        int p = row.PromptLength;
        Span<int> cur = row.Cur.AsSpan(0, n);
        Span<int> nxt = row.Nxt.AsSpan(0, n);
        Span<double> curConf = row.Conf.AsSpan(0, n);
        Span<double> nxtConf = row.NxtConf.AsSpan(0, n);
        bool curExact = logits.GreedyIsExact;
        bool nxtExact = logits.NextArgmaxIsExact;
        const double E = Confidence.ArgmaxProbabilityError;
        for (int i = p; i < n; i++)
        {
            int c = logits.Greedy(i, default, default, out double pc);
            if (!curExact && Math.Abs(pc - threshold) <= E)
            {
                pc = logits.ExactProbability(i, c, default, default);
            }
            cur[i] = c;
            curConf[i] = pc;
            int j = i == 0 ? n - 1 : i - 1;
            int x = logits.NextArgmax(j, out double pn);
            if (!nxtExact && Math.Abs(pn - threshold) <= E)
            {
                pn = logits.NextExactProbability(j, x);
            }
            nxt[i] = x;
            nxtConf[i] = pn;
        }
        Edits.Gate(row.Tokens.AsSpan(0, n), p, cur, nxt, curConf, nxtConf, threshold);
    }
}
