using System.Diagnostics;
using MeDlm.Kernels;
using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Decoding;

/// <summary>Receives what each pass did to each row (streaming). Spans are valid only during the call.</summary>
internal interface IDecodeObserver
{
    /// <summary>A stage-1 pass committed <paramref name="positions"/> (absolute, ascending) of the row.</summary>
    void OnUnmask(RowState row, ReadOnlySpan<int> positions);

    /// <summary>The between-stages transform ran; <paramref name="before"/> is the response before it.</summary>
    void OnTransition(RowState row, ReadOnlySpan<long> before);

    /// <summary>
    /// An edit round ran on the row. <paramref name="before"/> is the whole row before it, cur/nxt the
    /// proposals (valid from the prompt length on); <paramref name="counts"/> says what was applied.
    /// </summary>
    void OnEdit(RowState row, ReadOnlySpan<long> before, ReadOnlySpan<int> cur, ReadOnlySpan<int> nxt, in EditCounts counts);
}

/// <summary>
/// Decodes a batch of sequences in lockstep (docs/DESIGN.md §2 and §4.3): each <see cref="Step"/> is one forward
/// pass over every active row, right-padded with an attention mask, after which each row advances its
/// own state machine (stage-1 pass, the transition when its stage 1 ends, edit round, fixed point). A row
/// that finishes leaves the batch; lengths change during edits and the batch is re-padded each pass.
/// A row's result never depends on the other rows (keys of the counter RNG are per row; ties go to the
/// lower position), matching export/decoding.py token for token.
/// </summary>
/// <remarks>
/// Per-pass work allocates nothing: row buffers are sized when a request starts, the runner's buffers are
/// reused, and the kernels work over spans. (ONNX Runtime values are rebuilt when the batch shape
/// changes, i.e. on edit rounds.)
/// </remarks>
internal sealed class BatchDecoder
{
    private readonly ModelRunner _runner;
    private readonly SpecialTokens _ids;
    private readonly int _vocab;
    private readonly Stack<RowState> _free = []; // row states to reuse: their buffers keep their sizes
    private RowState[] _rows = [];
    private int _count;

    public BatchDecoder(ModelRunner runner, SpecialTokens ids)
    {
        _runner = runner;
        _ids = ids;
        _vocab = runner.Vocab;
    }

    /// <summary>The rows of the current batch, in request order.</summary>
    public ReadOnlySpan<RowState> Rows => _rows.AsSpan(0, _count);

    /// <summary>Forward passes run for the current batch.</summary>
    public int Passes { get; private set; }

    public bool IsDone
    {
        get
        {
            for (int r = 0; r < _count; r++)
            {
                if (_rows[r].Stage != RowStage.Done)
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>Starts a batch: each plan's prompt followed by its G masks.</summary>
    public void Start(IReadOnlyList<RowPlan> plans)
    {
        for (int r = 0; r < _count; r++)
        {
            _free.Push(_rows[r]);
        }
        _count = 0;
        Passes = 0;
        for (int i = 0; i < plans.Count; i++) // indexed: foreach over the interface would allocate an enumerator
        {
            Admit(plans[i]);
        }
    }

    /// <summary>
    /// Adds a row to the running batch (continuous batching): it takes part from the next <see cref="Step"/>
    /// on. Its result is the same as alone: a row's state, RNG keys and pass counts are its own.
    /// </summary>
    public void Admit(RowPlan plan)
    {
        if (_count == _rows.Length)
        {
            Array.Resize(ref _rows, Math.Max(4, _rows.Length * 2));
        }
        RowState row = _free.Count > 0 ? _free.Pop() : new RowState();
        row.Reset(plan, _ids.Mask, _vocab);
        StartBlock(row);
        _rows[_count++] = row;
    }

    /// <summary>
    /// Takes the finished rows out of the batch (their states are reused by later rows: read their results
    /// first). The remaining rows keep their order.
    /// </summary>
    public void RemoveFinished()
    {
        int kept = 0;
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.Stage == RowStage.Done)
            {
                _free.Push(row);
            }
            else
            {
                _rows[kept++] = row;
            }
        }
        Array.Clear(_rows, kept, _count - kept);
        _count = kept;
    }

    /// <summary>Runs one forward pass for all active rows and advances each of them.</summary>
    public void Step(CancellationToken ct, IDecodeObserver? observer = null)
    {
        ct.ThrowIfCancellationRequested();
        long t0 = Stopwatch.GetTimestamp();

        // A row whose own request was cancelled leaves now; the others are not affected.
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.Stage != RowStage.Done && row.Plan.Cancellation.IsCancellationRequested)
            {
                row.Stage = RowStage.Done;
                row.Cancelled = true;
            }
        }

        // Place the active rows (and the unconditional copies for guidance) in the batch.
        int batch = 0;
        int seq = 0;
        bool needEditHead = false;
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
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
            return;
        }
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.Stage == RowStage.Unmasking && row.Plan.CfgScale > 0)
            {
                row.GuidanceRow = batch++;
            }
        }

        _runner.SetShape(batch, seq);
        Span<long> ids = _runner.InputIds;
        Span<long> mask = _runner.AttentionMask;
        ids.Fill(_ids.Pad);
        mask.Clear();
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.BatchRow < 0)
            {
                continue;
            }
            row.Tokens.AsSpan(0, row.Length).CopyTo(ids.Slice(row.BatchRow * seq));
            mask.Slice(row.BatchRow * seq, row.Length).Fill(1);
            if (row.GuidanceRow >= 0)
            {
                // Unconditional copy: the prompt replaced by MASK.
                Span<long> u = ids.Slice(row.GuidanceRow * seq, row.Length);
                row.Tokens.AsSpan(0, row.Length).CopyTo(u);
                u[..row.PromptLength].Fill(_ids.Mask);
                mask.Slice(row.GuidanceRow * seq, row.Length).Fill(1);
            }
        }

        long ortBefore = _runner.OrtTicks;
        _runner.Run(needEditHead, ct);
        long ortTicks = _runner.OrtTicks - ortBefore;
        Passes++;

        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.BatchRow < 0)
            {
                continue;
            }
            if (row.Stage == RowStage.Unmasking)
            {
                UnmaskPass(row, seq, observer);
            }
            else
            {
                EditRound(row, seq, observer);
            }
        }

        long other = Stopwatch.GetTimestamp() - t0 - ortTicks;
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.BatchRow >= 0)
            {
                // Every row of a pass waited for all of it.
                row.OrtTicks += ortTicks;
                row.OtherTicks += other;
            }
        }
    }

    /// <summary>The per-step commit count of a new block: base + remainder over the masks in the block.</summary>
    private void StartBlock(RowState row)
    {
        RowPlan plan = row.Plan;
        if (plan.Algorithm == DecodingAlgorithm.Threshold)
        {
            return;
        }
        (int s, int e) = row.BlockRange;
        int masks = row.Tokens.AsSpan(s, e - s).Count((long)_ids.Mask);
        int stepsPerBlock = plan.MaskSteps / plan.Blocks;
        row.BlockBase = masks / stepsPerBlock;
        row.BlockRemainder = masks % stepsPerBlock;
    }

    private void UnmaskPass(RowState row, int seq, IDecodeObserver? observer)
    {
        RowPlan plan = row.Plan;
        int n = row.Length;
        int v = _vocab;
        ReadOnlySpan<float> logits = _runner.TopK > 0 ? default : _runner.Logits;
        int condBase = row.BatchRow * seq * v;
        int guideBase = row.GuidanceRow * seq * v;
        float guideScale = (float)(plan.CfgScale + 1);
        (int blockStart, int blockEnd) = row.BlockRange;
        bool sampled = plan.Temperature > 0;
        bool random = plan.Algorithm == DecodingAlgorithm.Random;
        long maskId = _ids.Mask;

        Span<long> tokens = row.Tokens.AsSpan(0, n);
        Span<double> conf = row.Conf.AsSpan(0, n);
        Span<int> x0 = row.X0.AsSpan(0, n);
        conf.Fill(double.NegativeInfinity);

        // Greedy confidences come from the fast float32 kernel first; only the candidates whose rank
        // that kernel's error could change are recomputed exactly in float64 (see Refine*).
        bool approximate = !sampled && !random;

        // Candidates: masked positions left of the block's end (the whole row for a single block).
        if (_runner.TopK > 0)
        {
            // Greedy from the graph's top K (sampling and guidance need full rows: refused at planning).
            ScoreTopK(row, seq, blockEnd, x0, conf);
            approximate = false;
        }
        else
        {
            ScoreFull(row, logits, condBase, guideBase, guideScale, blockEnd, approximate, x0, conf);
        }

        Span<int> selected = row.Selected.AsSpan(0, n);
        int count;
        if (plan.Algorithm == DecodingAlgorithm.Threshold)
        {
            if (approximate)
            {
                RefineAroundThreshold(row, logits, condBase, guideBase, guideScale, conf, plan.Threshold);
            }
            count = Scoring.Threshold(conf, plan.Threshold, selected); // ascending already
        }
        else
        {
            int k = row.BlockBase + (row.StepInBlock < row.BlockRemainder ? 1 : 0);
            count = Scoring.TopK(conf, k, selected);
            if (approximate && count == k && k > 0)
            {
                // The exact top k lie among the candidates within 2E of the approximate k-th score.
                RefineAbove(row, logits, condBase, guideBase, guideScale, conf, conf[selected[k - 1]] - (2 * ApproximationError));
                count = Scoring.TopK(conf, k, selected);
            }
            selected[..count].Sort();
        }
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

        bool blockFinished = plan.Algorithm == DecodingAlgorithm.Threshold
            ? !tokens[blockStart..blockEnd].Contains(maskId)
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

    /// <summary>x0 and confidence of every masked candidate from the full logits (fast float32 kernel when greedy).</summary>
    private void ScoreFull(RowState row, ReadOnlySpan<float> logits, int condBase, int guideBase, float guideScale, int blockEnd,
        bool approximate, Span<int> x0, Span<double> conf)
    {
        RowPlan plan = row.Plan;
        bool sampled = plan.Temperature > 0;
        bool random = plan.Algorithm == DecodingAlgorithm.Random;
        ulong pass = (ulong)row.MaskPasses;
        long maskId = _ids.Mask;
        ReadOnlySpan<int> banA = plan.ArgmaxBan;
        ReadOnlySpan<int> banP = plan.NormaliserBan;
        ReadOnlySpan<long> tokens = row.Tokens.AsSpan(0, row.Length);
        for (int i = 0; i < blockEnd; i++)
        {
            if (tokens[i] != maskId)
            {
                continue;
            }
            ReadOnlySpan<float> l = LogitsAt(row, logits, condBase, guideBase, guideScale, i);
            if (approximate)
            {
                x0[i] = Confidence.ArgmaxProbability(l, banA, banP, out float c);
                conf[i] = c;
                continue;
            }
            int x = sampled
                ? Sampling.GumbelArgmax(l, plan.Temperature, CounterRng.Key(plan.Seed, CounterRng.PurposeGumbel, pass, (ulong)i), banA)
                : Argmax.Index(l, banA);
            x0[i] = x;
            conf[i] = random
                ? CounterRng.Uniform(CounterRng.Key(plan.Seed, CounterRng.PurposeRemask, pass, (ulong)i), 0)
                : Scoring.ProbabilityOf(l, x, banA, banP);
        }
    }

    /// <summary>x0 and confidence of every masked candidate from the top-K form (argmax with the bans, float64 probability).</summary>
    private void ScoreTopK(RowState row, int seq, int blockEnd, Span<int> x0, Span<double> conf)
    {
        RowPlan plan = row.Plan;
        int k = _runner.TopK;
        ReadOnlySpan<long> topIds = _runner.TopKIds;
        ReadOnlySpan<float> topLogits = _runner.TopKLogits;
        ReadOnlySpan<float> lse = _runner.LogSumExp;
        ReadOnlySpan<float> special = _runner.SpecialLogits;
        ReadOnlySpan<int> specialIds = _runner.TopKSpecialIds;
        int ns = specialIds.Length;
        bool random = plan.Algorithm == DecodingAlgorithm.Random;
        ulong pass = (ulong)row.MaskPasses;
        long maskId = _ids.Mask;
        ReadOnlySpan<long> tokens = row.Tokens.AsSpan(0, row.Length);
        for (int i = 0; i < blockEnd; i++)
        {
            if (tokens[i] != maskId)
            {
                continue;
            }
            int at = (row.BatchRow * seq) + i;
            int x = TopKLogits.Argmax(topIds.Slice(at * k, k), topLogits.Slice(at * k, k), plan.ArgmaxBan, out float logit);
            if (x < 0)
            {
                // Excluded at load time (K exceeds the special ids, the only ids ever banned).
                throw new InvalidOperationException($"All top-{k} candidates at position {i} are banned.");
            }
            x0[i] = x;
            conf[i] = random
                ? CounterRng.Uniform(CounterRng.Key(plan.Seed, CounterRng.PurposeRemask, pass, (ulong)i), 0)
                : _runner.LogSumExpIsRest
                    ? TopKLogits.ProbabilityFromRest(x, logit, lse[at], topIds.Slice(at * k, k), topLogits.Slice(at * k, k), specialIds,
                        special.Slice(at * ns, ns), plan.ArgmaxBan, plan.NormaliserBan)
                    : TopKLogits.Probability(x, logit, lse[at], topIds.Slice(at * k, k), topLogits.Slice(at * k, k), _vocab, specialIds,
                        special.Slice(at * ns, ns), plan.ArgmaxBan, plan.NormaliserBan);
        }
    }

    /// <summary>
    /// Bound on |float32 kernel confidence - exact float64 confidence| (Confidence.ArgmaxProbability:
    /// float lane sums and a fast exp give a few 1e-6 at worst), with a margin.
    /// </summary>
    internal const double ApproximationError = 2e-5;

    /// <summary>The logits of position i: the conditional row, or the guided mix u + (s + 1)(c - u).</summary>
    private ReadOnlySpan<float> LogitsAt(RowState row, ReadOnlySpan<float> logits, int condBase, int guideBase, float guideScale, int i)
    {
        int v = _vocab;
        ReadOnlySpan<float> l = logits.Slice(condBase + (i * v), v);
        if (row.GuidanceRow < 0)
        {
            return l;
        }
        // In float32, like the reference's tensor arithmetic.
        ReadOnlySpan<float> u = logits.Slice(guideBase + (i * v), v);
        Span<float> g = row.GuidedLogits.AsSpan(0, v);
        for (int t = 0; t < v; t++)
        {
            g[t] = u[t] + (guideScale * (l[t] - u[t]));
        }
        return g;
    }

    /// <summary>Recomputes in float64 the confidence of every candidate whose approximate one is at least <paramref name="floor"/>.</summary>
    private void RefineAbove(RowState row, ReadOnlySpan<float> logits, int condBase, int guideBase, float guideScale, Span<double> conf, double floor)
    {
        RowPlan plan = row.Plan;
        for (int i = 0; i < conf.Length; i++)
        {
            if (conf[i] >= floor)
            {
                conf[i] = Scoring.ProbabilityOf(LogitsAt(row, logits, condBase, guideBase, guideScale, i), row.X0[i], plan.ArgmaxBan, plan.NormaliserBan);
            }
        }
    }

    /// <summary>
    /// Makes the threshold decision exact: candidates within E of tau are recomputed in float64, and when
    /// none reaches tau, those within 2E of the best (the always-committed top-1).
    /// </summary>
    private void RefineAroundThreshold(RowState row, ReadOnlySpan<float> logits, int condBase, int guideBase, float guideScale,
        Span<double> conf, double threshold)
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
            if (Math.Abs(c - threshold) <= ApproximationError)
            {
                conf[i] = Scoring.ProbabilityOf(LogitsAt(row, logits, condBase, guideBase, guideScale, i), row.X0[i], plan.ArgmaxBan, plan.NormaliserBan);
                anySure |= conf[i] >= threshold;
            }
            else
            {
                anySure |= c >= threshold;
            }
        }
        if (!anySure && best > double.NegativeInfinity)
        {
            RefineAbove(row, logits, condBase, guideBase, guideScale, conf, best - (2 * ApproximationError));
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
            row.Length = StageTransition.DropPadAndTerminate(row.Tokens, row.Length, row.PromptLength, _ids.Pad, _ids.End,
                plan.EditSteps > 0);
            observer?.OnTransition(row, row.Spare.AsSpan(0, respLen));
        }
        row.DraftLength = row.Length - row.PromptLength;
        row.Response.CopyTo(row.Draft);
        row.Stage = plan.EditSteps > 0 ? RowStage.Editing : RowStage.Done;
    }

    private void EditRound(RowState row, int seq, IDecodeObserver? observer)
    {
        RowPlan plan = row.Plan;
        int n = row.Length;
        int p = row.PromptLength;
        int v = _vocab;
        int rowBase = row.BatchRow * seq * v;
        ReadOnlySpan<float> logits = _runner.TopK > 0 ? default : _runner.Logits;
        ReadOnlySpan<float> next = _runner.NextLogits;
        Span<int> cur = row.Cur.AsSpan(0, n);
        Span<int> nxt = row.Nxt.AsSpan(0, n);
        int k = _runner.TopK;
        for (int i = p; i < n; i++)
        {
            cur[i] = k > 0
                ? TopKLogits.Argmax(_runner.TopKIds.Slice(((row.BatchRow * seq) + i) * k, k), _runner.TopKLogits.Slice(((row.BatchRow * seq) + i) * k, k), default, out _)
                : Argmax.Index(logits.Slice(rowBase + (i * v), v));
            // nxt[i] = the next-token head at i - 1 (rolled by one, so position 0 wraps to n - 1).
            int j = i == 0 ? n - 1 : i - 1;
            nxt[i] = Argmax.Index(next.Slice(rowBase + (j * v), v));
        }
        int newLength = Edits.Apply(row.Tokens.AsSpan(0, n), p, cur, nxt, _ids.Delete, plan.LengthCap, row.Spare, out EditCounts counts);
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
