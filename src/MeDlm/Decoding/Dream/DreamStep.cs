using MeDlm.Kernels;

namespace MeDlm.Decoding.Dream;

/// <summary>
/// One stage-1 pass of Dream's <c>_sample</c> (generation_utils.py) for one row, as export/decoding.py's
/// <c>dream_generate</c> defines it: shifted logits (position j reads the logits of j - 1, position 0 its
/// own), <c>sample_tokens</c> with temperature, then top-p, then top-k, the per-step transfer count of
/// <see cref="Schedule.DreamTransferCount"/> and the origin / maskgit_plus / topk_margin / entropy rules,
/// with alg_temp position sampling. Randomness comes from the counter RNG keyed by the row's seed, its own
/// pass index and the position, so a row's result never depends on its batch.
/// </summary>
/// <remarks>
/// Confidences are computed in float64 over the filtered, tempered distribution, as the reference does.
/// Buffers are vocabulary- or row-sized and grow only when a larger row arrives; a pass allocates nothing.
/// </remarks>
internal sealed class DreamStep
{
    /// <summary>Dream's epsilon inside the log of its entropy confidence.</summary>
    private const double EntropyEpsilon = 1e-10;

    private readonly double[] _scaled; // logits / T (or the logits when greedy), per token
    private readonly double[] _weights; // exp(scaled - max) of the kept tokens, 0 for the filtered ones
    private readonly int[] _order; // token ids by (scaled desc, id asc), built only when a filter is active
    private readonly double[] _keys; // sort keys of _order
    private int[] _masked = [];
    private double[] _positionWeights = [];
    private bool[] _taken = [];

    public DreamStep(int vocab)
    {
        _scaled = new double[vocab];
        _weights = new double[vocab];
        _order = new int[vocab];
        _keys = new double[vocab];
    }

    /// <summary>
    /// Runs the pass on <paramref name="row"/> given its (unshifted) logits, writes
    /// the positions to commit (ascending) into <paramref name="selected"/> with their tokens in
    /// <c>row.X0</c>, and returns their count.
    /// </summary>
    public int Pass(RowState row, in SequenceLogits logits, long maskId, Span<int> selected)
    {
        RowPlan plan = row.Plan;
        int n = row.Length;
        int step = row.MaskPasses;
        ulong pass = (ulong)step;
        ReadOnlySpan<long> tokens = row.Tokens.AsSpan(0, n);
        Span<int> x0 = row.X0.AsSpan(0, n);
        Span<double> conf = row.Conf.AsSpan(0, n);
        conf.Fill(double.NegativeInfinity);
        EnsureRowBuffers(n);

        int masks = 0;
        for (int i = 0; i < n; i++)
        {
            if (tokens[i] == maskId)
            {
                _masked[masks++] = i;
            }
        }
        if (masks == 0)
        {
            return 0;
        }

        if (plan.Algorithm == DecodingAlgorithm.Origin)
        {
            double pTransfer = step < plan.MaskSteps - 1
                ? 1.0 - (Schedule.DreamTimestep(step + 1, plan.MaskSteps, plan.Eps) / Schedule.DreamTimestep(step, plan.MaskSteps, plan.Eps))
                : 1.0;
            int count = 0;
            for (int j = 0; j < masks; j++)
            {
                int i = _masked[j];
                if (CounterRng.Uniform(CounterRng.Key(plan.Seed, CounterRng.PurposeDreamTransfer, pass, (ulong)i), 0) < pTransfer)
                {
                    x0[i] = Sample(Shifted(logits, i), plan, pass, i, out _);
                    selected[count++] = i;
                }
            }
            return count;
        }

        for (int j = 0; j < masks; j++)
        {
            int i = _masked[j];
            x0[i] = Sample(Shifted(logits, i), plan, pass, i, out double c);
            conf[i] = c;
        }
        int k = Schedule.DreamTransferCount(masks, step, plan.MaskSteps, plan.Eps);
        int chosen;
        if (k == 0)
        {
            chosen = 0;
        }
        else if (plan.AlgTemp > 0)
        {
            chosen = DrawPositions(conf, masks, k, plan.AlgTemp, plan.Seed, pass, selected);
        }
        else
        {
            chosen = Selection.TopK(conf, k, selected);
        }
        selected[..chosen].Sort();
        return chosen;
    }

    /// <summary>The logits that predict position i: those of i - 1 (position 0 keeps its own).</summary>
    private static ReadOnlySpan<float> Shifted(in SequenceLogits logits, int i) => logits.Row(i == 0 ? 0 : i - 1);

    /// <summary>
    /// Dream's <c>sample_tokens</c> for one position: x0 and the confidence of the algorithm over the
    /// filtered distribution (probability of x0; p1 - p2; Σ p log(p + 1e-10)).
    /// </summary>
    private int Sample(ReadOnlySpan<float> l, RowPlan plan, ulong pass, int position, out double confidence)
    {
        int v = l.Length;
        double t = plan.Temperature;
        bool sampled = t > 0;
        Span<double> s = _scaled.AsSpan(0, v);
        Span<double> w = _weights.AsSpan(0, v);
        double max = double.NegativeInfinity;
        for (int i = 0; i < v; i++)
        {
            double x = sampled ? l[i] / t : l[i];
            s[i] = x;
            if (double.IsFinite(x) && x > max)
            {
                max = x;
            }
        }
        if (max == double.NegativeInfinity)
        {
            confidence = 0;
            return Argmax.Index(l);
        }
        for (int i = 0; i < v; i++)
        {
            w[i] = double.IsFinite(s[i]) ? Math.Exp(s[i] - max) : 0.0;
        }
        bool topP = plan.TopP < 1;
        bool topK = plan.TopK > 0;
        if (topP || topK)
        {
            Filter(s, w, plan.TopP, topP, plan.TopK, topK);
        }

        double total = 0;
        int best = -1;
        for (int i = 0; i < v; i++)
        {
            total += w[i];
            if (best < 0 || w[i] > w[best])
            {
                best = i;
            }
        }
        if (!(total > 0))
        {
            confidence = 0;
            return Argmax.Index(l);
        }

        int x0 = best;
        if (sampled)
        {
            double target = CounterRng.Uniform(CounterRng.Key(plan.Seed, CounterRng.PurposeCategorical, pass, (ulong)position), 0) * total;
            double cum = 0;
            int last = -1;
            x0 = -1;
            for (int i = 0; i < v; i++)
            {
                if (w[i] == 0)
                {
                    continue;
                }
                cum += w[i];
                last = i;
                if (cum > target)
                {
                    x0 = i;
                    break;
                }
            }
            if (x0 < 0)
            {
                x0 = last; // rounding left the running sum short of the target
            }
        }

        switch (plan.Algorithm)
        {
            case DecodingAlgorithm.TopKMargin:
                double second = 0;
                bool firstSeen = false;
                for (int i = 0; i < v; i++)
                {
                    if (i == best && !firstSeen)
                    {
                        firstSeen = true;
                        continue;
                    }
                    second = Math.Max(second, w[i]);
                }
                confidence = (w[best] / total) - (second / total);
                break;
            case DecodingAlgorithm.Entropy:
                double sum = 0;
                for (int i = 0; i < v; i++)
                {
                    double p = w[i] / total;
                    sum += p * Math.Log(p + EntropyEpsilon);
                }
                confidence = sum;
                break;
            default:
                confidence = w[x0] / total;
                break;
        }
        return x0;
    }

    /// <summary>
    /// Dream's top-p then top-k on the order (scaled logit desc, id asc): top-p drops a token when the mass
    /// ahead of it (cumulative sum minus its own weight, as the reference computes it) exceeds topP of the
    /// total; top-k keeps the first k. Filtered weights become 0.
    /// </summary>
    private void Filter(ReadOnlySpan<double> s, Span<double> w, double topP, bool useTopP, int topK, bool useTopK)
    {
        int v = s.Length;
        Span<int> order = _order.AsSpan(0, v);
        Span<double> keys = _keys.AsSpan(0, v);
        for (int i = 0; i < v; i++)
        {
            order[i] = i;
            keys[i] = -s[i]; // ascending keys = descending scores; -inf scores sort last
        }
        keys.Sort(order);
        // The sort is not stable: within each run of equal scores, put the ids back in ascending order.
        for (int r = 0; r < v;)
        {
            int e = r + 1;
            while (e < v && keys[e] == keys[r])
            {
                e++;
            }
            if (e - r > 1)
            {
                order[r..e].Sort();
            }
            r = e;
        }
        if (useTopP)
        {
            double total = 0;
            for (int i = 0; i < v; i++)
            {
                total += w[i];
            }
            double limit = topP * total;
            double cum = 0;
            for (int r = 0; r < v; r++)
            {
                int id = order[r];
                double wi = w[id];
                cum += wi;
                if (cum - wi > limit)
                {
                    w[id] = 0;
                }
            }
        }
        if (useTopK)
        {
            for (int r = topK; r < v; r++)
            {
                w[order[r]] = 0;
            }
        }
    }

    /// <summary>
    /// alg_temp: k positions drawn without replacement from softmax(conf / alg_temp) over the masked
    /// positions, as k sequential draws (uniform = key(seed, 5, pass, 0), index = draw number), each walking
    /// the remaining positions in ascending order to the first whose running weight exceeds u · their total.
    /// </summary>
    private int DrawPositions(ReadOnlySpan<double> conf, int masks, int k, double algTemp, ulong seed, ulong pass, Span<int> selected)
    {
        Span<double> pw = _positionWeights.AsSpan(0, masks);
        Span<bool> taken = _taken.AsSpan(0, masks);
        taken.Clear();
        double max = double.NegativeInfinity;
        for (int j = 0; j < masks; j++)
        {
            pw[j] = conf[_masked[j]] / algTemp;
            max = Math.Max(max, pw[j]);
        }
        for (int j = 0; j < masks; j++)
        {
            pw[j] = Math.Exp(pw[j] - max);
        }
        ulong key = CounterRng.Key(seed, CounterRng.PurposeDreamAlgTemp, pass, 0);
        int count = Math.Min(k, masks);
        for (int d = 0; d < count; d++)
        {
            double u = CounterRng.Uniform(key, (ulong)d);
            double total = 0;
            for (int j = 0; j < masks; j++)
            {
                if (!taken[j])
                {
                    total += pw[j];
                }
            }
            double acc = 0;
            int pick = -1;
            int lastFree = -1;
            for (int j = 0; j < masks; j++)
            {
                if (taken[j])
                {
                    continue;
                }
                lastFree = j;
                acc += pw[j];
                if (acc > u * total)
                {
                    pick = j;
                    break;
                }
            }
            if (pick < 0)
            {
                pick = lastFree;
            }
            taken[pick] = true;
            selected[d] = _masked[pick];
        }
        return count;
    }

    private void EnsureRowBuffers(int n)
    {
        if (_masked.Length < n)
        {
            _masked = new int[n];
            _positionWeights = new double[n];
            _taken = new bool[n];
        }
    }
}
