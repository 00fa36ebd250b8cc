using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MeDlm.Kernels;

namespace MeDlm.Decoding;

/// <summary>
/// Stage-1 confidences in float64 and the position selection over them. The reference
/// (export/decoding.py) ranks positions by <c>torch.softmax(l.double())[x0]</c>: float32 sums carry
/// errors near 1e-6 at high confidence (small terms added to 1.0), enough to reorder two positions that
/// float64 tells apart, so the ranking here is computed in float64 too.
/// </summary>
internal static class Scoring
{
    /// <summary>
    /// x0 = the first argmax of <paramref name="row"/> outside <paramref name="bannedA"/>, and its float64
    /// softmax probability with the ids of both banned sets at -inf (0 when x0 is in <paramref name="bannedB"/>).
    /// </summary>
    public static int ArgmaxConfidence(ReadOnlySpan<float> row, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB, out double confidence)
    {
        int x0 = Argmax.Index(row, bannedA);
        confidence = ProbabilityOf(row, x0, bannedA, bannedB);
        return x0;
    }

    /// <summary>
    /// softmax(l)[token] in float64 where the ids of <paramref name="bannedA"/> and <paramref name="bannedB"/>
    /// are -inf; 0 when the token itself is banned or -inf. Computed as exp(l_t - M) · (1 / Σ exp(l - M)),
    /// the order of operations of torch's softmax.
    /// </summary>
    public static double ProbabilityOf(ReadOnlySpan<float> row, int token, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if ((uint)token >= (uint)row.Length || bannedA.Contains(token) || bannedB.Contains(token) || float.IsNegativeInfinity(row[token]))
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
                m = Math.Max(m, MaxOf(row[start..cuts[c]]));
            }
            start = cuts[c] + 1;
        }
        if (float.IsPositiveInfinity(m))
        {
            // Mass shared among the +inf entries (the limit); torch would give NaN here.
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
                sum += SumExp(row[start..cuts[c]], m);
            }
            start = cuts[c] + 1;
        }
        return Math.Exp((double)row[token] - m) * (1.0 / sum);
    }

    private static float MaxOf(ReadOnlySpan<float> x)
    {
        float m = float.NegativeInfinity;
        foreach (float v in x)
        {
            if (v > m)
            {
                m = v;
            }
        }
        return m;
    }

    /// <summary>Σ exp(x - m) in float64 (each term widened before the subtraction, as torch's double softmax).</summary>
    private static double SumExp(ReadOnlySpan<float> x, float m)
    {
        double md = m;
        int i = 0;
        double s = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            ref float r = ref MemoryMarshal.GetReference(x);
            Vector256<double> mv = Vector256.Create(md);
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref r, (nuint)i);
                (Vector256<double> lo, Vector256<double> hi) = Vector256.Widen(v);
                acc0 += Vector256.Exp(lo - mv);
                acc1 += Vector256.Exp(hi - mv);
            }
            s = Vector256.Sum(acc0 + acc1);
        }
        for (; i < x.Length; i++)
        {
            s += Math.Exp(x[i] - md);
        }
        return s;
    }

    /// <summary>
    /// The <paramref name="k"/> best positions by a float64 score: -inf skipped, descending score, ties
    /// to the lower position (the reference's stable sort). Insertion into a sorted prefix of
    /// <paramref name="dest"/>: O(n·k) over a block, no allocation.
    /// </summary>
    public static int TopK(ReadOnlySpan<double> scores, int k, Span<int> dest)
    {
        if (k <= 0)
        {
            return 0;
        }
        int count = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            double s = scores[i];
            if (!(s > double.NegativeInfinity))
            {
                continue;
            }
            if (count == k && !(s > scores[dest[count - 1]]))
            {
                continue; // not better than the worst kept; equal loses to the lower position
            }
            int at = count < k ? count++ : count - 1;
            // Shift worse entries right; an equal earlier position stays ahead.
            while (at > 0 && s > scores[dest[at - 1]])
            {
                dest[at] = dest[at - 1];
                at--;
            }
            dest[at] = i;
        }
        return count;
    }

    /// <summary>
    /// Fast-dLLM selection: every position with score &gt;= <paramref name="threshold"/> (compared in
    /// float64), and always the best one (ties to the lower position) if any score is above -inf.
    /// Ascending positions.
    /// </summary>
    public static int Threshold(ReadOnlySpan<double> scores, double threshold, Span<int> dest)
    {
        int count = 0;
        int best = -1;
        double bestScore = double.NegativeInfinity;
        for (int i = 0; i < scores.Length; i++)
        {
            double s = scores[i];
            if (!(s > double.NegativeInfinity))
            {
                continue;
            }
            if (s > bestScore)
            {
                bestScore = s;
                best = i;
            }
            if (s >= threshold)
            {
                dest[count++] = i;
            }
        }
        if (count == 0 && best >= 0)
        {
            dest[count++] = best;
        }
        return count;
    }
}
