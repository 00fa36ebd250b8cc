using MeDlm.Kernels;

namespace MeDlm.Decoding;

/// <summary>Small scoring pieces the decoders need beyond the kernels.</summary>
internal static class Scoring
{
    /// <summary>
    /// softmax(l)[token] where the ids of <paramref name="bannedA"/> and <paramref name="bannedB"/> are -inf
    /// (0 when the token itself is banned): the confidence of a sampled (not argmax) prediction.
    /// </summary>
    public static float ProbabilityOf(ReadOnlySpan<float> row, int token, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if (bannedA.Contains(token) || bannedB.Contains(token))
        {
            return 0f;
        }
        float m = RowScan.MaxSumExp(row, bannedA, bannedB, out _, out double sum);
        float v = row[token];
        if (float.IsNegativeInfinity(v) || float.IsNegativeInfinity(m))
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
    /// The <paramref name="k"/> best positions by a float64 score (random remasking draws are float64 and
    /// would tie spuriously in float32): -inf skipped, descending score, ties to the lower position.
    /// Insertion into a sorted prefix of <paramref name="dest"/>: O(n·k), n being a block.
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
}
