using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeDlm.Kernels;

/// <summary>Stochastic token choice: Gumbel-max (LLaDA) and filtered categorical sampling (Dream).</summary>
public static class Sampling
{
    /// <summary>
    /// LLaDA's <c>add_gumbel_noise</c> followed by argmax, in float64:
    /// <c>x0 = argmax_v exp(l_v) / (-log U_v)^T</c> with U_v = <see cref="CounterRng.Uniform"/>(key, v).
    /// The argmax is taken of the logarithm of that expression, <c>l_v - T·log(-log U_v)</c> (a strictly
    /// increasing transform, so the same argmax without exp overflowing for logits above ~709).
    /// This samples softmax(l / T). Banned ids and -inf logits never win; ties go to the lowest id;
    /// a row with no finite allowed entry returns the lowest non-banned id (as <see cref="Argmax"/>).
    /// T &lt;= 0 is plain argmax. The key is
    /// <c>CounterRng.Key(seed, CounterRng.PurposeGumbel, step, position)</c>.
    /// </summary>
    public static int GumbelArgmax(ReadOnlySpan<float> logits, double temperature, ulong key, ReadOnlySpan<int> banned)
    {
        if (!(temperature > 0))
        {
            return Argmax.Index(logits, banned);
        }
        int best = -1;
        double bestScore = double.NegativeInfinity;
        int n = logits.Length;
        // The noise term -T·log(-log U) is at most T·36.7 (U <= 1 - 2^-53): a block whose largest logit is
        // further than that below the best score so far cannot win, so its draws and logs are skipped
        // (result unchanged; the small slack covers rounding).
        double maxNoise = (-temperature * Math.Log(-Math.Log(1.0 - (1.0 / 9007199254740992.0)))) + 1e-6;
        // The noise of a block is made in vector form: the draws four at a time, both logs by
        // TensorPrimitives (within an ulp of Math.Log), then one scalar pass picks the winner.
        Span<double> noise = stackalloc double[GumbelBlock];
        for (int start = 0; start < n; start += GumbelBlock)
        {
            int len = Math.Min(GumbelBlock, n - start);
            ReadOnlySpan<float> block = logits.Slice(start, len);
            if (RowScan.Max(block) + maxNoise < bestScore)
            {
                continue;
            }
            Span<double> g = noise[..len];
            CounterRng.Uniforms(key, (ulong)start, g);
            TensorPrimitives.Log(g, g);
            TensorPrimitives.Negate(g, g);
            TensorPrimitives.Log(g, g); // log(-log U)
            bool check = RowScan.AnyIn(banned, default, start, len);
            for (int j = 0; j < len; j++)
            {
                float l = block[j];
                if (float.IsNegativeInfinity(l) || (check && RowScan.Contains(banned, start + j)))
                {
                    continue;
                }
                double score = l - (temperature * g[j]);
                if (score > bestScore)
                {
                    bestScore = score;
                    best = start + j;
                }
            }
        }
        return best >= 0 ? best : RowScan.LowestAllowed(n, banned);
    }

    /// <summary>Tokens per Gumbel noise block: 2 KiB of doubles on the stack, and fine enough to skip.</summary>
    private const int GumbelBlock = 256;

    /// <summary>
    /// Categorical sampling from softmax(l / T) after optional top-k and top-p filtering (Dream's
    /// <c>sample_tokens</c>), driven by one uniform draw <paramref name="uniform"/> in (0, 1)
    /// (e.g. <c>CounterRng.Uniform(CounterRng.Key(seed, CounterRng.PurposeCategorical, step, position), 0)</c>).
    /// Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
    /// </summary>
    /// <remarks>
    /// <para>Exact definition (float64 throughout). Allowed tokens: not banned and l_v &gt; -inf.
    /// M = max allowed l; weights w_v = exp((l_v - M) / T); Z = Σ w_v over the allowed tokens.
    /// Order the allowed tokens by (l descending, id ascending). Top-k (<paramref name="topK"/> &gt; 0) keeps
    /// the first k of that order (exactly k: ties at the boundary go to the lower id, where Dream keeps
    /// every tie). Top-p (<paramref name="topP"/> &lt; 1) keeps a token iff the mass w/Z of the tokens
    /// before it in that order is &lt;= topP (Dream's shifted cumulative rule; the first token is always
    /// kept). With both, the kept set is the intersection (both are prefixes of the same order).
    /// The draw: walk the kept tokens in ascending id order accumulating w; return the first whose
    /// running sum exceeds uniform · Σ_kept w (the last kept token if rounding leaves none).</para>
    /// <para>T &lt;= 0 is greedy (<see cref="Argmax.Index(ReadOnlySpan{float}, ReadOnlySpan{int})"/>).
    /// A row with no allowed token returns the lowest non-banned id.</para>
    /// <para>Work space: <paramref name="scratch"/> must hold at least min(k, vocab) entries for top-k alone
    /// and vocab entries when top-p is active (its worst case is a flat distribution).
    /// Top-k costs O(V log k); top-p grows a candidate set {l &gt;= M - T·d} for d = 4, 8, 16 ... until
    /// its mass exceeds topP (a superset of the nucleus), then sorts only that set.</para>
    /// </remarks>
    public static int SampleCategorical(ReadOnlySpan<float> logits, double temperature, int topK, double topP,
        double uniform, Span<ulong> scratch, ReadOnlySpan<int> banned)
    {
        if (!(temperature > 0))
        {
            return Argmax.Index(logits, banned);
        }
        int n = logits.Length;
        int fallback = Argmax.Index(logits, banned); // also the maximum's id
        if (fallback < 0 || float.IsNegativeInfinity(logits[fallback]))
        {
            return fallback;
        }
        double m = logits[fallback];
        if (double.IsPositiveInfinity(m))
        {
            // Mass shared equally among +inf entries: sample among them by id order.
            return SampleAmongPositiveInfinity(logits, banned, uniform);
        }
        double invT = 1.0 / temperature;
        bool useTopK = topK > 0 && topK < n;
        bool useTopP = topP < 1.0;
        if (!useTopK && !useTopP)
        {
            double z = 0;
            for (int v = 0; v < n; v++)
            {
                z += Weight(logits, banned, v, m, invT);
            }
            return WalkById(logits, banned, default, m, invT, uniform * z, fallback);
        }

        int count;
        double total = -1;
        if (useTopK)
        {
            if (scratch.Length < topK)
            {
                throw new ArgumentException("scratch must hold at least topK entries.", nameof(scratch));
            }
            count = TopKKeys(logits, banned, topK, scratch);
        }
        else
        {
            if (scratch.Length < n)
            {
                throw new ArgumentException("scratch must hold vocab entries when top-p is used.", nameof(scratch));
            }
            count = NucleusCandidates(logits, banned, m, invT, topP, scratch, out total);
        }
        Span<ulong> kept = scratch[..count];
        kept.Sort(); // (l descending, id ascending)
        if (useTopP)
        {
            if (total < 0)
            {
                total = 0;
                for (int v = 0; v < n; v++)
                {
                    total += Weight(logits, banned, v, m, invT);
                }
            }
            double limit = topP * total;
            double before = 0;
            int c = 0;
            while (c < count && before <= limit)
            {
                before += Weight(logits, default, RowScan.KeyId(kept[c]), m, invT);
                c++;
            }
            kept = kept[..c];
        }
        // Walk the kept tokens in ascending id order (their mass is summed in that order too).
        for (int j = 0; j < kept.Length; j++)
        {
            kept[j] = (uint)RowScan.KeyId(kept[j]);
        }
        kept.Sort();
        double zk = 0;
        for (int j = 0; j < kept.Length; j++)
        {
            zk += Weight(logits, default, (int)kept[j], m, invT);
        }
        return WalkById(logits, default, kept, m, invT, uniform * zk, (int)kept[0]);
    }

    private static double Weight(ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, int v, double m, double invT)
    {
        float l = logits[v];
        if (float.IsNegativeInfinity(l) || RowScan.Contains(banned, v))
        {
            return 0;
        }
        return Math.Exp((l - m) * invT);
    }

    /// <summary>
    /// The draw: walks ids in ascending order (every id of the row when <paramref name="kept"/> is empty, else
    /// the kept ids) accumulating their weights; returns the first whose running sum exceeds
    /// <paramref name="target"/>, else the last with weight (<paramref name="fallback"/> when none has).
    /// </summary>
    private static int WalkById(ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, ReadOnlySpan<ulong> kept, double m, double invT,
        double target, int fallback)
    {
        bool all = kept.IsEmpty;
        int count = all ? logits.Length : kept.Length;
        double acc = 0;
        int last = fallback;
        for (int j = 0; j < count; j++)
        {
            int v = all ? j : (int)kept[j];
            double w = Weight(logits, banned, v, m, invT);
            if (w <= 0)
            {
                continue;
            }
            last = v;
            acc += w;
            if (acc > target)
            {
                return v;
            }
        }
        return last;
    }

    private static int SampleAmongPositiveInfinity(ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, double uniform)
    {
        int count = 0;
        for (int v = 0; v < logits.Length; v++)
        {
            if (float.IsPositiveInfinity(logits[v]) && !RowScan.Contains(banned, v))
            {
                count++;
            }
        }
        int pick = Math.Min(count - 1, (int)(uniform * count));
        for (int v = 0; v < logits.Length; v++)
        {
            if (float.IsPositiveInfinity(logits[v]) && !RowScan.Contains(banned, v) && pick-- == 0)
            {
                return v;
            }
        }
        return -1;
    }

    /// <summary>The k best allowed tokens as keys (l desc, id asc) via a bounded max-heap of keys; returns the count.</summary>
    private static int TopKKeys(ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, int k, Span<ulong> heap)
    {
        int count = 0;
        int n = logits.Length;
        float rootValue = float.PositiveInfinity; // logit of the worst kept token once the heap is full
        int v = 0;
        while (v < n)
        {
            if (count == k && Vector256.IsHardwareAccelerated && v <= n - Vector256<float>.Count)
            {
                // Once full, only a logit strictly above the worst kept one can enter (later ids lose ties):
                // skip whole vectors that hold none, the common case after the first few thousand tokens.
                var vec = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(logits), (nuint)v);
                if (Vector256.GreaterThanAny(vec, Vector256.Create(rootValue)) == false)
                {
                    v += Vector256<float>.Count;
                    continue;
                }
            }
            int end = count == k ? Math.Min(n, v + Vector256<float>.Count) : v + 1;
            for (; v < end; v++)
            {
                float l = logits[v];
                if (float.IsNegativeInfinity(l))
                {
                    continue;
                }
                ulong key = RowScan.DescendingKey(l, v);
                if (count == k && key >= heap[0])
                {
                    continue; // not better than the worst kept (checked before the banned test: cheaper)
                }
                if (RowScan.Contains(banned, v))
                {
                    continue;
                }
                if (count < k)
                {
                    int i = count++;
                    heap[i] = key;
                    while (i > 0)
                    {
                        int parent = (i - 1) >> 1;
                        if (heap[parent] >= heap[i])
                        {
                            break;
                        }
                        (heap[parent], heap[i]) = (heap[i], heap[parent]);
                        i = parent;
                    }
                }
                else
                {
                    heap[0] = key;
                    int i = 0;
                    while (true)
                    {
                        int left = 2 * i + 1;
                        if (left >= count)
                        {
                            break;
                        }
                        int larger = left + 1 < count && heap[left + 1] > heap[left] ? left + 1 : left;
                        if (heap[i] >= heap[larger])
                        {
                            break;
                        }
                        (heap[i], heap[larger]) = (heap[larger], heap[i]);
                        i = larger;
                    }
                }
                if (count == k)
                {
                    rootValue = logits[RowScan.KeyId(heap[0])];
                }
            }
        }
        return count;
    }

    /// <summary>
    /// Collects a prefix of the (l desc, id asc) order that contains the whole nucleus: the tokens with
    /// (l - M)/T &gt;= -d for the first d in 4, 8, 16 ... whose set has mass &gt; topP·Z (or everything).
    /// </summary>
    private static int NucleusCandidates(ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, double m, double invT,
        double topP, Span<ulong> dest, out double total)
    {
        total = 0;
        for (int v = 0; v < logits.Length; v++)
        {
            total += Weight(logits, banned, v, m, invT);
        }
        double limit = topP * total;
        for (double d = 4; ; d *= 2)
        {
            // Past d = 1024 every remaining weight underflows to 0: take all allowed tokens.
            bool all = d > 1024;
            double mass = 0;
            if (!all)
            {
                // Same weights as Weight(): exp((l - m) / T) for the members only.
                for (int v = 0; v < logits.Length; v++)
                {
                    double e = (logits[v] - m) * invT;
                    if (e >= -d && !RowScan.Contains(banned, v))
                    {
                        mass += Math.Exp(e);
                    }
                }
            }
            // The margin keeps the set a strict superset of the nucleus despite summation-order rounding.
            if (all || mass > limit + (1e-9 * total))
            {
                int count = 0;
                for (int v = 0; v < logits.Length; v++)
                {
                    float l = logits[v];
                    if (float.IsNegativeInfinity(l) || RowScan.Contains(banned, v))
                    {
                        continue;
                    }
                    if (all || (l - m) * invT >= -d)
                    {
                        dest[count++] = RowScan.DescendingKey(l, v);
                    }
                }
                return count;
            }
        }
    }
}
