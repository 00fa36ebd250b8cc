using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeDlm.Kernels;

/// <summary>
/// Choosing which positions to commit from per-position scores. Scores are float64: the decoders rank
/// positions by <c>softmax(l.double())[x0]</c> as the reference does, and float32 would merge two
/// confidences that float64 tells apart (near 1, small terms vanish against 1.0).
/// </summary>
public static class Selection
{
    /// <summary>
    /// The <paramref name="k"/> best positions of <paramref name="scores"/> by partial selection
    /// (a bounded heap of size k held in <paramref name="dest"/>: O(n log k), no full sort, no allocation).
    /// Positions scoring -inf (and NaN) are never selected. Order of the result: descending score, ties by
    /// ascending position (so among equal scores the lower position is preferred, also at the cut).
    /// </summary>
    /// <returns>The number written: min(k, number of selectable positions); k &lt;= 0 gives 0.</returns>
    /// <exception cref="ArgumentException"><paramref name="dest"/> is shorter than min(k, n).</exception>
    public static int TopK(ReadOnlySpan<double> scores, int k, Span<int> dest)
    {
        int n = scores.Length;
        if (k <= 0 || n == 0)
        {
            return 0;
        }
        k = Math.Min(k, n);
        if (dest.Length < k)
        {
            throw new ArgumentException("dest must hold min(k, scores.Length) positions.", nameof(dest));
        }
        Span<int> heap = dest[..k];
        int count = 0;
        double worst = double.NegativeInfinity; // score at the heap root once full
        for (int i = 0; i < n; i++)
        {
            if (count == k && Vector256.IsHardwareAccelerated && (i & 3) == 0 && i <= n - 4 &&
                !Vector256.GreaterThanAny(Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(scores), (nuint)i), Vector256.Create(worst)))
            {
                // Full heap: four positions none of which beats the worst kept one are skipped at once.
                i += 3;
                continue;
            }
            double s = scores[i];
            if (!(s > double.NegativeInfinity))
            {
                continue; // -inf or NaN
            }
            if (count < k)
            {
                // Sift up in a min-heap whose root is the WORST kept: lowest score, then highest position.
                int c = count++;
                while (c > 0)
                {
                    int parent = (c - 1) >> 1;
                    int pi = heap[parent];
                    if (!Worse(s, i, scores[pi], pi))
                    {
                        break;
                    }
                    heap[c] = pi;
                    c = parent;
                }
                heap[c] = i;
                if (count == k)
                {
                    worst = scores[heap[0]];
                }
            }
            else if (s > worst)
            {
                // Later positions lose ties, so only strictly better scores enter once the heap is full.
                SiftDown(heap, count, scores, i);
                worst = scores[heap[0]];
            }
        }
        // Heap sort: repeatedly move the worst to the end, giving best-first order.
        for (int end = count - 1; end > 0; end--)
        {
            int top = heap[0];
            int last = heap[end];
            SiftDown(heap, end, scores, last);
            heap[end] = top;
        }
        return count;
    }

    /// <summary>
    /// Fast-dLLM threshold selection: every position with score &gt;= <paramref name="threshold"/>, and
    /// always at least the single best one (ties to the lower position) if any score is above -inf.
    /// -inf (and NaN) positions are never selected. Output in ascending position order; O(n).
    /// </summary>
    /// <returns>The number of positions written.</returns>
    /// <exception cref="ArgumentException"><paramref name="dest"/> is shorter than the number selected.</exception>
    public static int Threshold(ReadOnlySpan<double> scores, double threshold, Span<int> dest)
    {
        int count = 0;
        int n = scores.Length;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<double>.Count && !double.IsNaN(threshold))
        {
            // Four positions per compare; positions are written only for set mask bits.
            ref double r = ref MemoryMarshal.GetReference(scores);
            Vector256<double> tau = Vector256.Create(threshold);
            Vector256<double> ninf = Vector256.Create(double.NegativeInfinity);
            for (; i <= n - Vector256<double>.Count; i += Vector256<double>.Count)
            {
                Vector256<double> v = Vector256.LoadUnsafe(ref r, (nuint)i);
                uint bits = (Vector256.GreaterThanOrEqual(v, tau) & Vector256.GreaterThan(v, ninf)).ExtractMostSignificantBits();
                if (bits == 0)
                {
                    continue;
                }
                if (count + System.Numerics.BitOperations.PopCount(bits) > dest.Length)
                {
                    throw new ArgumentException("dest is too short for the selected positions.", nameof(dest));
                }
                do
                {
                    dest[count++] = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                }
                while (bits != 0);
            }
        }
        for (; i < n; i++)
        {
            double s = scores[i];
            if (s >= threshold && s > double.NegativeInfinity)
            {
                if (count >= dest.Length)
                {
                    throw new ArgumentException("dest is too short for the selected positions.", nameof(dest));
                }
                dest[count++] = i;
            }
        }
        if (count > 0)
        {
            return count;
        }
        // Nothing reached the threshold: commit the single best (rare path, plain loop that ignores NaN).
        int best = -1;
        double bestScore = double.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            if (scores[j] > bestScore)
            {
                bestScore = scores[j];
                best = j;
            }
        }
        if (best < 0)
        {
            return 0;
        }
        if (dest.IsEmpty)
        {
            throw new ArgumentException("dest is too short for the selected positions.", nameof(dest));
        }
        dest[0] = best;
        return 1;
    }

    /// <summary>True when (sa, a) ranks below (sb, b): lower score, or equal score and higher position.</summary>
    private static bool Worse(double sa, int a, double sb, int b) => sa < sb || (sa == sb && a > b);

    /// <summary>Places <paramref name="item"/> at the root of the min-heap heap[0..count) and sifts it down.</summary>
    private static void SiftDown(Span<int> heap, int count, ReadOnlySpan<double> scores, int item)
    {
        double si = scores[item];
        int c = 0;
        while (true)
        {
            int left = 2 * c + 1;
            if (left >= count)
            {
                break;
            }
            int child = left;
            int right = left + 1;
            if (right < count && Worse(scores[heap[right]], heap[right], scores[heap[left]], heap[left]))
            {
                child = right;
            }
            int ch = heap[child];
            if (!Worse(scores[ch], ch, si, item))
            {
                break;
            }
            heap[c] = ch;
            c = child;
        }
        heap[c] = item;
    }
}
