using System.Numerics.Tensors;

namespace MeDlm.Kernels;

/// <summary>
/// Numerically stable softmax of one row (the maximum is subtracted first, which
/// <see cref="TensorPrimitives.SoftMax{T}(ReadOnlySpan{T}, Span{T})"/> does not do).
/// Dream only (its sampled-token probabilities and <c>alg_temp</c> draw): the ME-DLM / LLaDA decoders
/// never materialise a softmax; the Dream decoding issue wires it.
/// </summary>
/// <remarks>
/// Conventions (never NaN for non-NaN input):
/// <list type="bullet">
/// <item>-inf entries get probability 0.</item>
/// <item>A row whose entries are all -inf has no probability mass: softmax writes zeros.</item>
/// <item>If some entries are +inf, the mass is shared equally among them (the limit of the finite
/// case); every other entry gets 0.</item>
/// <item>Large finite logits (e.g. near 1e4) are fine: only differences to the maximum are exponentiated.</item>
/// </list>
/// The destination may be the same memory as the logits (in place).
/// NaN inputs give unspecified results.
/// </remarks>
public static class Softmax
{
    /// <summary>dest[i] = exp(l[i] - max) / Σ exp(l - max).</summary>
    public static void Compute(ReadOnlySpan<float> logits, Span<float> dest)
    {
        CheckDestination(logits, dest);
        if (logits.IsEmpty)
        {
            return;
        }
        float m = RowScan.MaxSumExp(logits, default, default, out _, out double sum);
        dest = dest[..logits.Length];
        if (float.IsNegativeInfinity(m))
        {
            dest.Clear();
            return;
        }
        if (float.IsPositiveInfinity(m))
        {
            float share = (float)(1.0 / sum);
            for (int i = 0; i < logits.Length; i++)
            {
                dest[i] = float.IsPositiveInfinity(logits[i]) ? share : 0f;
            }
            return;
        }
        // Second pass (the row is typically still in L2 from the max/sum pass): the same fast exp as the sum.
        RowScan.ScaledExp(logits, m, (float)(1.0 / sum), dest);
    }

    private static void CheckDestination(ReadOnlySpan<float> logits, Span<float> dest)
    {
        if (dest.Length < logits.Length)
        {
            throw new ArgumentException("Destination is shorter than the logits row.", nameof(dest));
        }
    }
}
