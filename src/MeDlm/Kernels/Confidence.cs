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
    /// <summary>
    /// softmax(row)[token] in float32, in one pass over the row (Dream's <c>maskgit_plus</c> confidence). Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
    /// </summary>
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
    /// Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
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
    /// Dream only: not on the ME-DLM / LLaDA decoding path; the Dream decoding issue wires it.
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
    /// Bound on |<see cref="ArgmaxProbability"/> - <see cref="ExactProbability"/>| for the same row and bans
    /// (float lane sums and the fast exp give a few 1e-6 at worst), with a margin. The decoders rank by the
    /// fast kernel and recompute exactly only the candidates within this bound of a cut.
    /// </summary>
    public const double ArgmaxProbabilityError = 2e-5;

    /// <summary>
    /// softmax(row)[token] in float64 with the ids of <paramref name="bannedA"/> and <paramref name="bannedB"/>
    /// at -inf, as the reference ranks positions (<c>torch.softmax(l.double())[x0]</c>): computed as
    /// exp(l_t - M) · (1 / Σ exp(l - M)), torch's order of operations, each term widened before the
    /// subtraction. 0 when the token is banned, outside the row or -inf; with +inf entries the mass is
    /// shared among them (torch would give NaN).
    /// </summary>
    public static double ExactProbability(ReadOnlySpan<float> row, int token, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if ((uint)token >= (uint)row.Length || RowScan.Contains(bannedA, token) || RowScan.Contains(bannedB, token) ||
            float.IsNegativeInfinity(row[token]))
        {
            return 0.0;
        }
        // The banned ids cut the row into segments that are scanned as they are (no copy, no patching).
        Span<int> cuts = stackalloc int[bannedA.Length + bannedB.Length + 1];
        int nc = 0;
        foreach (int b in bannedA)
        {
            if ((uint)b < (uint)row.Length)
            {
                cuts[nc++] = b;
            }
        }
        foreach (int b in bannedB)
        {
            if ((uint)b < (uint)row.Length)
            {
                cuts[nc++] = b;
            }
        }
        cuts[..nc].Sort();
        cuts[nc++] = row.Length;

        float m = float.NegativeInfinity;
        int start = 0;
        for (int c = 0; c < nc; c++)
        {
            if (cuts[c] > start)
            {
                m = Math.Max(m, RowScan.Max(row[start..cuts[c]]));
            }
            start = cuts[c] + 1;
        }
        if (float.IsPositiveInfinity(m))
        {
            int infinite = 0;
            start = 0;
            for (int c = 0; c < nc; c++)
            {
                if (cuts[c] > start)
                {
                    infinite += row[start..cuts[c]].Count(float.PositiveInfinity);
                }
                start = cuts[c] + 1;
            }
            return float.IsPositiveInfinity(row[token]) ? 1.0 / infinite : 0.0;
        }
        double sum = 0;
        start = 0;
        for (int c = 0; c < nc; c++)
        {
            if (cuts[c] > start)
            {
                sum += RowScan.SumExpWide(row[start..cuts[c]], m);
            }
            start = cuts[c] + 1;
        }
        return Math.Exp((double)row[token] - m) * (1.0 / sum);
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
