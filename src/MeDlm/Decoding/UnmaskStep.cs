using MeDlm.Decoding.Dream;
using MeDlm.Kernels;
using MeDlm.Model;

namespace MeDlm.Decoding;

/// <summary>
/// One stage-1 pass of one row (docs/DESIGN.md §2.1): score the masked candidates (x0 and a confidence per
/// position), choose the positions to commit (per-block schedule, or the threshold), commit them, and
/// advance the block; when the last block ends, the between-stages transform. A new stage-1 algorithm adds
/// its scoring to <see cref="Score"/> and its choice to <see cref="Choose"/>.
/// </summary>
internal sealed class UnmaskStep(SpecialTokens ids)
{
    private DreamStep? _dream; // created with the first Dream row (vocabulary-sized buffers)

    /// <summary>Prepares the current block: LLaDA's schedule counts the masks present when a block starts.</summary>
    public void StartBlock(RowState row)
    {
        if (row.Plan.Algorithm == DecodingAlgorithm.Threshold || DecodingAlgorithms.IsDream(row.Plan.Algorithm))
        {
            return;
        }
        (int s, int e) = row.BlockRange;
        row.BlockMasks = row.Tokens.AsSpan(s, e - s).Count((long)ids.Mask);
    }

    public void Run(RowState row, in SequenceLogits logits, IDecodeObserver? observer)
    {
        RowPlan plan = row.Plan;
        if (DecodingAlgorithms.IsDream(plan.Algorithm))
        {
            RunDream(row, logits, observer);
            return;
        }
        int n = row.Length;
        Span<long> tokens = row.Tokens.AsSpan(0, n);
        Span<double> conf = row.Conf.AsSpan(0, n);
        Span<int> x0 = row.X0.AsSpan(0, n);
        conf.Fill(double.NegativeInfinity);

        bool approximate = Score(row, logits, x0, conf);
        Span<int> selected = row.Selected.AsSpan(0, n);
        int count = Choose(row, logits, conf, approximate, selected);
        bool switched = plan.SwitchThreshold > 0 && row.Block == plan.Blocks - 1 &&
            SwitchEarly(row, logits, conf, approximate, selected, ref count);
        for (int j = 0; j < count; j++)
        {
            int i = selected[j];
            tokens[i] = x0[i];
            row.CommitPositions.Add(i);
        }
        row.CommitCounts.Add(count);
        row.MaskPasses++;
        row.StepInBlock++;
        observer?.OnUnmask(row, selected[..count]);

        if (switched)
        {
            row.SwitchedEarly = true;
            row.Block = plan.Blocks;
            FinishStageOne(row, observer);
            return;
        }
        (int blockStart, int blockEnd) = row.BlockRange;
        bool blockFinished = plan.Algorithm == DecodingAlgorithm.Threshold
            ? !tokens[blockStart..blockEnd].Contains((long)ids.Mask)
            : row.StepInBlock == plan.MaskSteps / plan.Blocks;
        if (!blockFinished)
        {
            return;
        }
        row.Block++;
        row.StepInBlock = 0;
        if (row.Block < plan.Blocks)
        {
            StartBlock(row);
            return;
        }
        FinishStageOne(row, observer);
    }

    /// <summary>A Dream pass (Decoding/Dream/DreamStep.cs); stage 1 ends after its steps or when no mask is left.</summary>
    private void RunDream(RowState row, in SequenceLogits logits, IDecodeObserver? observer)
    {
        _dream ??= new DreamStep(logits.Row(0).Length);
        int n = row.Length;
        Span<long> tokens = row.Tokens.AsSpan(0, n);
        Span<int> selected = row.Selected.AsSpan(0, n);
        int count = _dream.Pass(row, logits, ids.Mask, selected);
        for (int j = 0; j < count; j++)
        {
            int i = selected[j];
            tokens[i] = row.X0[i];
            row.CommitPositions.Add(i);
        }
        row.CommitCounts.Add(count);
        row.MaskPasses++;
        observer?.OnUnmask(row, selected[..count]);
        if (row.MaskPasses == row.Plan.MaskSteps || !tokens.Contains((long)ids.Mask))
        {
            FinishStageOne(row, observer);
        }
    }

    /// <summary>
    /// x0 and confidence of every masked position left of the block's end (the whole row for a single
    /// block). Greedy confidences come from the fast float32 kernel where the view has no exact one; then
    /// only the candidates whose rank that kernel's error could change are recomputed in float64 (see
    /// <see cref="Choose"/>).
    /// </summary>
    /// <returns>Whether the confidences are approximate.</returns>
    private bool Score(RowState row, in SequenceLogits logits, Span<int> x0, Span<double> conf)
    {
        RowPlan plan = row.Plan;
        bool sampled = plan.Temperature > 0;
        bool random = plan.Algorithm == DecodingAlgorithm.Random;
        ulong pass = (ulong)row.MaskPasses;
        ReadOnlySpan<int> banA = plan.ArgmaxBan;
        ReadOnlySpan<int> banP = plan.NormaliserBan;
        ReadOnlySpan<long> tokens = row.Tokens.AsSpan(0, row.Length);
        long maskId = ids.Mask;
        int blockEnd = row.BlockRange.End;
        bool greedy = !sampled && !random;
        for (int i = 0; i < blockEnd; i++)
        {
            if (tokens[i] != maskId)
            {
                continue;
            }
            if (greedy)
            {
                x0[i] = logits.Greedy(i, banA, banP, out conf[i]);
                continue;
            }
            int x = sampled
                ? Sampling.GumbelArgmax(logits.Row(i), plan.Temperature, CounterRng.Key(plan.Seed, CounterRng.PurposeGumbel, pass, (ulong)i), banA)
                : logits.Argmax(i, banA);
            x0[i] = x;
            conf[i] = random
                ? CounterRng.Uniform(CounterRng.Key(plan.Seed, CounterRng.PurposeRemask, pass, (ulong)i), 0)
                : logits.ExactProbability(i, x, banA, banP);
        }
        return greedy && !logits.GreedyIsExact;
    }

    /// <summary>The positions to commit, ascending: the threshold rule, or the k best of the block's schedule.</summary>
    private static int Choose(RowState row, in SequenceLogits logits, Span<double> conf, bool approximate, Span<int> selected)
    {
        RowPlan plan = row.Plan;
        if (plan.Algorithm == DecodingAlgorithm.Threshold)
        {
            if (approximate)
            {
                RefineAroundThreshold(row, logits, conf, plan.Threshold);
            }
            return Selection.Threshold(conf, plan.Threshold, selected); // ascending already
        }
        int k = Schedule.BaseRemainderAt(row.BlockMasks, plan.MaskSteps / plan.Blocks, row.StepInBlock);
        int count = Selection.TopK(conf, k, selected);
        if (approximate && count == k && k > 0)
        {
            // The exact top k lie among the candidates within 2E of the approximate k-th score.
            RefineAbove(row, logits, conf, conf[selected[k - 1]] - (2 * Confidence.ArgmaxProbabilityError));
            count = Selection.TopK(conf, k, selected);
        }
        selected[..count].Sort();
        return count;
    }

    /// <summary>
    /// The early switch (docs/DESIGN.md §2.6), in the last block after the pass's choice: when every candidate left
    /// masked has p &gt;= the switch threshold, all candidates are committed in this pass (<paramref name="selected"/>
    /// becomes all of them, ascending). p is the probability of x0 with the prediction's bans only: PAD and END stay
    /// in the normaliser, so a confidently predicted PAD tail counts (where the algorithm has no normaliser ban p is
    /// its confidence, recomputed in float64 only near the threshold). False, with the choice unchanged, when one
    /// falls short or none is left; the candidates are tested in order and the first short one ends the test.
    /// </summary>
    private static bool SwitchEarly(RowState row, in SequenceLogits logits, Span<double> conf, bool approximate, Span<int> selected,
        ref int count)
    {
        RowPlan plan = row.Plan;
        double threshold = plan.SwitchThreshold;
        bool ownConfidence = plan.NormaliserBan.Length == 0;
        int j = 0;
        bool anyLeft = false;
        for (int i = 0; i < conf.Length; i++)
        {
            if (conf[i] == double.NegativeInfinity)
            {
                continue;
            }
            if (j < count && selected[j] == i)
            {
                j++;
                continue;
            }
            anyLeft = true;
            double p = conf[i];
            if (!ownConfidence)
            {
                p = logits.ExactProbability(i, row.X0[i], plan.ArgmaxBan, default);
            }
            else if (approximate && Math.Abs(p - threshold) <= Confidence.ArgmaxProbabilityError)
            {
                p = logits.ExactProbability(i, row.X0[i], plan.ArgmaxBan, default);
            }
            if (p < threshold)
            {
                return false;
            }
        }
        if (!anyLeft)
        {
            return false;
        }
        int k = 0;
        for (int i = 0; i < conf.Length; i++)
        {
            if (conf[i] != double.NegativeInfinity)
            {
                selected[k++] = i;
            }
        }
        count = k;
        return true;
    }

    /// <summary>Recomputes in float64 the confidence of every candidate whose approximate one is at least <paramref name="floor"/>.</summary>
    private static void RefineAbove(RowState row, in SequenceLogits logits, Span<double> conf, double floor)
    {
        RowPlan plan = row.Plan;
        for (int i = 0; i < conf.Length; i++)
        {
            if (conf[i] >= floor)
            {
                conf[i] = logits.ExactProbability(i, row.X0[i], plan.ArgmaxBan, plan.NormaliserBan);
            }
        }
    }

    /// <summary>
    /// Makes the threshold decision exact: candidates within E of tau are recomputed in float64, and when
    /// none reaches tau, those within 2E of the best (the always-committed top-1).
    /// </summary>
    private static void RefineAroundThreshold(RowState row, in SequenceLogits logits, Span<double> conf, double threshold)
    {
        RowPlan plan = row.Plan;
        double best = double.NegativeInfinity;
        bool anySure = false;
        for (int i = 0; i < conf.Length; i++)
        {
            double c = conf[i];
            if (c == double.NegativeInfinity)
            {
                continue;
            }
            best = Math.Max(best, c);
            if (Math.Abs(c - threshold) <= Confidence.ArgmaxProbabilityError)
            {
                conf[i] = logits.ExactProbability(i, row.X0[i], plan.ArgmaxBan, plan.NormaliserBan);
                anySure |= conf[i] >= threshold;
            }
            else
            {
                anySure |= c >= threshold;
            }
        }
        if (!anySure && best > double.NegativeInfinity)
        {
            RefineAbove(row, logits, conf, best - (2 * Confidence.ArgmaxProbabilityError));
        }
    }

    /// <summary>Between stages (drop PAD, END last when edits follow), the draft, and the next stage.</summary>
    private void FinishStageOne(RowState row, IDecodeObserver? observer)
    {
        RowPlan plan = row.Plan;
        if (plan.Transition)
        {
            int respLen = row.Length - row.PromptLength;
            if (observer is not null)
            {
                row.Tokens.AsSpan(row.PromptLength, respLen).CopyTo(row.Spare);
            }
            row.Length = StageTransition.DropPadAndTerminate(row.Tokens, row.Length, row.PromptLength, ids.Pad, ids.End,
                plan.EditSteps > 0);
            observer?.OnTransition(row, row.Spare.AsSpan(0, respLen));
        }
        row.DraftLength = row.Length - row.PromptLength;
        row.Response.CopyTo(row.Draft);
        row.Stage = plan.EditSteps > 0 ? RowStage.Editing : RowStage.Done;
    }
}
