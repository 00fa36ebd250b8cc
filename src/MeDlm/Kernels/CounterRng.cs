using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeDlm.Kernels;

/// <summary>
/// Seeded, counter-based random numbers: every draw is a pure function of
/// (seed, purpose, step, position, index), so a sequence's samples do not depend on which other
/// sequences share its batch, on row order, or on thread scheduling, and can be reproduced
/// bit for bit in Python with numpy <c>uint64</c> arithmetic.
/// </summary>
/// <remarks>
/// <para>Specification (all arithmetic on unsigned 64-bit integers, wrapping modulo 2^64):</para>
/// <code>
/// mix64(z):  z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
///            z ^= z >> 27; z *= 0x94D049BB133111EB;
///            z ^= z >> 31; return z
/// key(seed, purpose, step, position) =
///     mix64(mix64(mix64(mix64(seed ^ 0x9E3779B97F4A7C15) + purpose) + step) + position)
/// uniform(key, index) = ((mix64(key + index) >> 11) + 0.5) * 2^-53     (IEEE float64, round to nearest even)
/// </code>
/// <para>Purposes: <see cref="PurposeGumbel"/> = 1 (Gumbel noise, index = token id),
/// <see cref="PurposeRemask"/> = 2 (random remasking score, index = 0),
/// <see cref="PurposeCategorical"/> = 3 (categorical sampling draw, index = 0),
/// <see cref="PurposeDreamTransfer"/> = 4 (Dream origin's reveal coin, index = 0),
/// <see cref="PurposeDreamAlgTemp"/> = 5 (Dream alg_temp position draws, position 0, index = draw number).
/// <c>step</c> is the sequence's own forward-pass index (0-based) and <c>position</c> the absolute
/// position in the sequence (prompt included).</para>
/// <para>Range: in float64 the sum <c>(m + 0.5)</c> is exact for m &lt; 2^52 and rounds to even above,
/// so the formula yields exactly 1.0 for the single value m = 2^53 - 1 (one draw in 2^53). To keep the
/// result strictly inside (0, 1), as the Gumbel transform needs, that one case is mapped to
/// 1 - 2^-53, the largest double below 1; every other value is the formula's. In numpy:
/// <c>np.minimum(u, 1 - 2**-53)</c>.</para>
/// </remarks>
public static class CounterRng
{
    /// <summary>Purpose 1: Gumbel noise; index = token id.</summary>
    public const ulong PurposeGumbel = 1;

    /// <summary>Purpose 2: random remasking score; index = 0.</summary>
    public const ulong PurposeRemask = 2;

    /// <summary>Purpose 3: categorical sampling draw; index = 0.</summary>
    public const ulong PurposeCategorical = 3;

    /// <summary>Purpose 4: Dream <c>origin</c>'s reveal coin of a masked position; index = 0.</summary>
    public const ulong PurposeDreamTransfer = 4;

    /// <summary>Purpose 5: Dream <c>alg_temp</c> position draws; position = 0, index = draw number.</summary>
    public const ulong PurposeDreamAlgTemp = 5;

    private const ulong SeedSalt = 0x9E3779B97F4A7C15UL;
    private const double TwoPowMinus53 = 1.0 / 9007199254740992.0;
    private const double LargestBelowOne = 1.0 - TwoPowMinus53;

    /// <summary>The SplitMix64 finaliser (a bijection on 64-bit integers).</summary>
    public static ulong Mix64(ulong z)
    {
        z ^= z >> 30;
        z *= 0xBF58476D1CE4E5B9UL;
        z ^= z >> 27;
        z *= 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return z;
    }

    /// <summary>The key of one (seed, purpose, step, position) stream.</summary>
    public static ulong Key(ulong seed, ulong purpose, ulong step, ulong position)
        => Mix64(Mix64(Mix64(Mix64(seed ^ SeedSalt) + purpose) + step) + position);

    /// <summary>The raw 64-bit draw number <paramref name="index"/> of a stream.</summary>
    public static ulong NextRaw(ulong key, ulong index) => Mix64(key + index);

    /// <summary>
    /// <c>destination[j] = Uniform(key, firstIndex + j)</c>, bit for bit, four draws per vector op (the
    /// formula is integer arithmetic plus exact conversions, so the vector lanes give the scalar's values).
    /// </summary>
    public static void Uniforms(ulong key, ulong firstIndex, Span<double> destination)
    {
        int n = destination.Length;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<ulong>.Count)
        {
            ref double d = ref MemoryMarshal.GetReference(destination);
            Vector256<ulong> z0 = Vector256.Create(key + firstIndex) + Vector256.Create(0UL, 1UL, 2UL, 3UL);
            Vector256<ulong> stride = Vector256.Create((ulong)Vector256<ulong>.Count);
            Vector256<ulong> c1 = Vector256.Create(0xBF58476D1CE4E5B9UL);
            Vector256<ulong> c2 = Vector256.Create(0x94D049BB133111EBUL);
            Vector256<double> half = Vector256.Create(0.5);
            Vector256<double> scale = Vector256.Create(TwoPowMinus53);
            Vector256<double> top = Vector256.Create(LargestBelowOne);
            for (; i <= n - Vector256<ulong>.Count; i += Vector256<ulong>.Count)
            {
                Vector256<ulong> z = z0;
                z ^= Vector256.ShiftRightLogical(z, 30);
                z *= c1;
                z ^= Vector256.ShiftRightLogical(z, 27);
                z *= c2;
                z ^= Vector256.ShiftRightLogical(z, 31);
                Vector256<double> u = (Vector256.ConvertToDouble(Vector256.ShiftRightLogical(z, 11)) + half) * scale;
                Vector256.Min(u, top).StoreUnsafe(ref d, (nuint)i);
                z0 += stride;
            }
        }
        for (; i < n; i++)
        {
            destination[i] = Uniform(key, firstIndex + (ulong)i);
        }
    }

    /// <summary>Uniform double strictly inside (0, 1); see the class remarks for the exact formula.</summary>
    public static double Uniform(ulong key, ulong index)
    {
        double u = ((Mix64(key + index) >> 11) + 0.5) * TwoPowMinus53;
        return u < 1.0 ? u : LargestBelowOne;
    }
}
