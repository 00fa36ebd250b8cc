using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeDlm.Kernels;

/// <summary>
/// Confidence scores of a chosen token, computed from the logits without materialising the softmax
/// (a running maximum and a sum of exponentials), and the fused ME-DLM stage-1 kernel.
/// </summary>
/// <remarks>
/// Rows whose entries are all -inf have no mass: probabilities are 0. If some entries are +inf, the
/// mass is shared equally among them. NaN inputs give unspecified results.
/// </remarks>
public static class Confidence
{
    /// <summary>softmax(row)[token], in one pass over the row.</summary>
    public static float Probability(ReadOnlySpan<float> row, int token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, row.Length);
        float m = RowScan.MaxSumExp(row, default, default, out _, out double sum);
        float v = row[token];
        if (float.IsNegativeInfinity(v))
        {
            return 0f;
        }
        if (float.IsPositiveInfinity(m))
        {
            return float.IsPositiveInfinity(v) ? (float)(1.0 / sum) : 0f;
        }
        return (float)(Math.Exp((double)v - m) / sum);
    }

    /// <summary>
    /// Dream's <c>topk_margin</c>: p1 - p2, the two largest softmax probabilities of the row (a repeated
    /// maximum gives 0). A single-entry row gives p1 = 1 (or 0 if -inf), p2 = 0. Two passes over the row.
    /// </summary>
    public static float Margin(ReadOnlySpan<float> row)
    {
        if (row.IsEmpty)
        {
            return 0f;
        }
        float m = RowScan.MaxSumExp(row, default, default, out int first, out double sum);
        if (float.IsNegativeInfinity(m))
        {
            return 0f;
        }
        float second = SecondLargest(row, first);
        if (float.IsPositiveInfinity(m))
        {
            // +inf mass is shared equally: p1 - p2 is 0 for two or more +inf entries, else 1 - 0.
            return float.IsPositiveInfinity(second) ? 0f : 1f;
        }
        double p1 = 1.0 / sum;
        double p2 = float.IsNegativeInfinity(second) ? 0.0 : Math.Exp((double)second - m) / sum;
        return (float)(p1 - p2);
    }

    /// <summary>
    /// Dream's <c>entropy</c> confidence: Σ p log p (the negative entropy, ≤ 0; higher = more confident),
    /// with 0·log 0 = 0. Computed as (Σ e^d·d)/S - log S with d = l - max and S = Σ e^d, in two passes.
    /// (Dream adds 1e-10 inside the log; this kernel uses the exact definition.)
    /// An all -inf or empty row gives 0; a row with +inf entries gives -log(count of +inf).
    /// </summary>
    public static float NegativeEntropy(ReadOnlySpan<float> row)
    {
        if (row.IsEmpty)
        {
            return 0f;
        }
        float m = RowScan.Max(row);
        if (float.IsNegativeInfinity(m))
        {
            return 0f;
        }
        if (float.IsPositiveInfinity(m))
        {
            int c = 0;
            foreach (float v in row)
            {
                if (float.IsPositiveInfinity(v))
                {
                    c++;
                }
            }
            return (float)-Math.Log(c);
        }
        SumExpAndWeighted(row, m, out double s, out double t);
        return (float)(t / s - Math.Log(s));
    }

    /// <summary>
    /// The fused ME-DLM stage-1 rule for one row, reading it once:
    /// <c>l[A] = -inf; x0 = argmax l; l[P] = -inf; conf = softmax(l)[x0]</c>, where A =
    /// <paramref name="bannedFromArgmax"/> (e.g. DEL) and P = <paramref name="bannedFromNormaliser"/>
    /// (e.g. PAD). The bans are cumulative, as in the reference: the normaliser excludes A and P.
    /// If x0 is in P the confidence is exactly 0 (such a position is committed last). Ties go to the lowest
    /// index. If every entry outside A is -inf, x0 is the lowest index outside A and conf = 0;
    /// -1 is returned only when no index is allowed. Ids outside the row are ignored.
    /// </summary>
    /// <returns>x0.</returns>
    public static int ArgmaxProbability(ReadOnlySpan<float> row, ReadOnlySpan<int> bannedFromArgmax,
        ReadOnlySpan<int> bannedFromNormaliser, out float probability)
    {
        // Pass over the row with A and P both banned: max M, first argmax, S = Σ exp(l - M).
        float m = RowScan.MaxSumExp(row, bannedFromArgmax, bannedFromNormaliser, out int idx, out double sum);

        // The argmax over "all but A" is either that one or a P entry (P \ A), checked directly.
        int bestP = -1;
        float bestPValue = float.NegativeInfinity;
        for (int k = 0; k < bannedFromNormaliser.Length; k++)
        {
            int p = bannedFromNormaliser[k];
            if ((uint)p >= (uint)row.Length || RowScan.Contains(bannedFromArgmax, p))
            {
                continue;
            }
            float v = row[p];
            if (v > bestPValue || (v == bestPValue && p < bestP))
            {
                bestP = p;
                bestPValue = v;
            }
        }
        if (bestP >= 0 && (bestPValue > m || (bestPValue == m && (idx < 0 || bestP < idx))) && !float.IsNegativeInfinity(bestPValue))
        {
            probability = 0f;
            return bestP;
        }
        if (idx < 0)
        {
            // Every entry outside A is -inf: no mass anywhere.
            probability = 0f;
            return RowScan.LowestAllowed(row.Length, bannedFromArgmax);
        }
        // softmax(l)[x0] = exp(M - M) / S = 1 / S (also right for the +inf convention, where S counts them).
        probability = (float)(1.0 / sum);
        return idx;
    }

    /// <summary>
    /// <see cref="ArgmaxProbability"/> over a block of rows: row r is
    /// <c>logits[r*vocab .. (r+1)*vocab)</c>, for r &lt; ids.Length; results go to ids[r] and conf[r].
    /// </summary>
    public static void ArgmaxProbabilityRows(ReadOnlySpan<float> logits, int vocab, ReadOnlySpan<int> bannedFromArgmax,
        ReadOnlySpan<int> bannedFromNormaliser, Span<int> ids, Span<float> conf)
    {
        int rows = CheckRows(logits, vocab, ids, conf);
        for (int r = 0; r < rows; r++)
        {
            ids[r] = ArgmaxProbability(logits.Slice(r * vocab, vocab), bannedFromArgmax, bannedFromNormaliser, out conf[r]);
        }
    }

    /// <summary>
    /// Parallel <see cref="ArgmaxProbabilityRows"/> for many rows: contiguous ranges of rows are handed to
    /// the thread pool (at most <paramref name="maxDegreeOfParallelism"/> workers, -1 = all cores). Results
    /// are identical to the sequential version. Allocates a few small objects per call (the parallel loop),
    /// never per row.
    /// </summary>
    public static unsafe void ArgmaxProbabilityRowsParallel(ReadOnlySpan<float> logits, int vocab,
        ReadOnlySpan<int> bannedFromArgmax, ReadOnlySpan<int> bannedFromNormaliser, Span<int> ids, Span<float> conf,
        int maxDegreeOfParallelism = -1)
    {
        int rows = CheckRows(logits, vocab, ids, conf);
        int workers = maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism : Environment.ProcessorCount;
        workers = Math.Min(workers, rows);
        if (workers <= 1)
        {
            ArgmaxProbabilityRows(logits, vocab, bannedFromArgmax, bannedFromNormaliser, ids, conf);
            return;
        }
        fixed (float* pl = logits)
        fixed (int* pa = bannedFromArgmax)
        fixed (int* pp = bannedFromNormaliser)
        fixed (int* pi = ids)
        fixed (float* pc = conf)
        {
            var job = new RowsJob(pl, vocab, pa, bannedFromArgmax.Length, pp, bannedFromNormaliser.Length, pi, pc, rows, workers);
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, job.Run);
        }
    }

    private sealed unsafe class RowsJob(float* logits, int vocab, int* a, int aLength, int* p, int pLength,
        int* ids, float* conf, int rows, int workers)
    {
        public void Run(int worker)
        {
            // Contiguous ranges: each worker streams its own part of the logits.
            int begin = (int)((long)rows * worker / workers);
            int end = (int)((long)rows * (worker + 1) / workers);
            var banA = new ReadOnlySpan<int>(a, aLength);
            var banP = new ReadOnlySpan<int>(p, pLength);
            for (int r = begin; r < end; r++)
            {
                var row = new ReadOnlySpan<float>(logits + (long)r * vocab, vocab);
                ids[r] = ArgmaxProbability(row, banA, banP, out conf[r]);
            }
        }
    }

    private static int CheckRows(ReadOnlySpan<float> logits, int vocab, Span<int> ids, Span<float> conf)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocab);
        int rows = ids.Length;
        if (conf.Length < rows)
        {
            throw new ArgumentException("conf is shorter than ids.", nameof(conf));
        }
        if ((long)rows * vocab > logits.Length)
        {
            throw new ArgumentException("logits holds fewer than ids.Length rows of vocab floats.", nameof(logits));
        }
        return rows;
    }

    /// <summary>Largest entry other than the one at <paramref name="skip"/> (-inf if none).</summary>
    private static float SecondLargest(ReadOnlySpan<float> row, int skip)
    {
        float a = RowScan.Max(row[..skip]);
        float b = RowScan.Max(row[(skip + 1)..]);
        return a > b ? a : b;
    }

    /// <summary>s = Σ e^d, t = Σ e^d·d over d = x - m, skipping -inf entries (0·-inf would be NaN).</summary>
    private static void SumExpAndWeighted(ReadOnlySpan<float> x, float m, out double s, out double t)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float fs = 0f, ft = 0f;
        double ds = 0, dt = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            Vector256<float> mv = Vector256.Create(m);
            Vector256<float> ninf = Vector256.Create(float.NegativeInfinity);
            int vecEnd = n - (n % Vector256<float>.Count);
            for (int start = 0; start < vecEnd; start += RowScan.BlockSize)
            {
                // Float lanes within a block, accumulated into doubles across blocks.
                Vector256<float> vs = Vector256<float>.Zero, vt = Vector256<float>.Zero;
                int end = Math.Min(vecEnd, start + RowScan.BlockSize);
                for (int j = start; j < end; j += Vector256<float>.Count)
                {
                    Vector256<float> xv = Vector256.LoadUnsafe(ref r, (nuint)j);
                    Vector256<float> d = xv - mv;
                    Vector256<float> e = Vector256.Exp(d);
                    vs += e;
                    vt += Vector256.ConditionalSelect(Vector256.Equals(xv, ninf), Vector256<float>.Zero, e * d);
                }
                ds += Vector256.Sum(vs);
                dt += Vector256.Sum(vt);
            }
            i = vecEnd;
        }
        for (; i < n; i++)
        {
            float v = System.Runtime.CompilerServices.Unsafe.Add(ref r, i);
            if (float.IsNegativeInfinity(v))
            {
                continue;
            }
            float d = v - m;
            float e = MathF.Exp(d);
            fs += e;
            ft += e * d;
        }
        s = ds + fs;
        t = dt + ft;
    }
}
