using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeDlm.Kernels;

/// <summary>
/// Shared vectorised building blocks for the vocabulary-wide kernels. Rows are walked in blocks of
/// <see cref="BlockSize"/> floats: a block is read from memory once by the max pass and then stays in
/// L1 for the exp pass, so a whole row costs one trip through memory (the online-softmax trick at block
/// granularity: the running sum is rescaled once per block whose maximum is a new maximum).
/// </summary>
internal static class RowScan
{
    /// <summary>4 KiB of floats: small enough to stay in L1 between the two passes over a block.</summary>
    internal const int BlockSize = 1024;

    /// <summary>exp(x) underflows to 0 in float below about -103.97; blocks entirely below max - 104
    /// add nothing and are skipped.</summary>
    private const float NegligibleExponent = -104f;

    /// <summary>Largest element (-inf for an empty span). NaN handling is unspecified.</summary>
    internal static float Max(ReadOnlySpan<float> x)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float m = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            // Four independent accumulators hide the max latency; MaxNative maps to one vmaxps.
            Vector256<float> a0 = Vector256.Create(float.NegativeInfinity), a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 4 * Vector256<float>.Count; i += 4 * Vector256<float>.Count)
            {
                a0 = Vector256.MaxNative(a0, Vector256.LoadUnsafe(ref r, (nuint)i));
                a1 = Vector256.MaxNative(a1, Vector256.LoadUnsafe(ref r, (nuint)(i + 8)));
                a2 = Vector256.MaxNative(a2, Vector256.LoadUnsafe(ref r, (nuint)(i + 16)));
                a3 = Vector256.MaxNative(a3, Vector256.LoadUnsafe(ref r, (nuint)(i + 24)));
            }
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                a0 = Vector256.MaxNative(a0, Vector256.LoadUnsafe(ref r, (nuint)i));
            }
            a0 = Vector256.MaxNative(Vector256.MaxNative(a0, a1), Vector256.MaxNative(a2, a3));
            for (int l = 0; l < Vector256<float>.Count; l++)
            {
                float v = a0.GetElement(l);
                if (v > m)
                {
                    m = v;
                }
            }
        }
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref r, i);
            if (v > m)
            {
                m = v;
            }
        }
        return m;
    }

    /// <summary>First index whose element compares equal (==) to <paramref name="value"/>, or -1.
    /// (-0 and +0 compare equal, as in every reference argmax.)</summary>
    internal static int IndexOfFirstEqual(ReadOnlySpan<float> x, float value)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            Vector256<float> t = Vector256.Create(value);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                uint bits = Vector256.Equals(Vector256.LoadUnsafe(ref r, (nuint)i), t).ExtractMostSignificantBits();
                if (bits != 0)
                {
                    return i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                }
            }
        }
        for (; i < n; i++)
        {
            if (Unsafe.Add(ref r, i) == value)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Sum of exp(x[i] - m) for a finite <paramref name="m"/> &gt;= every x[i];
    /// -inf entries contribute exactly 0.</summary>
    internal static float SumExp(ReadOnlySpan<float> x, float m)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        float s = 0f;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            // AVX-512: half the instructions per element for the exp polynomial (the bottleneck here).
            Vector512<float> mv = Vector512.Create(m);
            Vector512<float> s0 = Vector512<float>.Zero, s1 = s0;
            for (; i <= n - 2 * Vector512<float>.Count; i += 2 * Vector512<float>.Count)
            {
                s0 += ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)i) - mv);
                s1 += ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)(i + 16)) - mv);
            }
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                s0 += ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)i) - mv);
            }
            s = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            Vector256<float> mv = Vector256.Create(m);
            Vector256<float> s0 = Vector256<float>.Zero, s1 = s0;
            for (; i <= n - 2 * Vector256<float>.Count; i += 2 * Vector256<float>.Count)
            {
                s0 += ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)i) - mv);
                s1 += ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)(i + 8)) - mv);
            }
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                s0 += ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)i) - mv);
            }
            s = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++)
        {
            s += MathF.Exp(Unsafe.Add(ref r, i) - m);
        }
        return s;
    }

    /// <summary>Σ exp(x - m) in float64 for a finite m &gt;= every x[i]: each term widened before the
    /// subtraction, as torch's double softmax; -inf entries contribute exactly 0.</summary>
    internal static double SumExpWide(ReadOnlySpan<float> x, float m)
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
    /// exp(x) for x &lt;= 0, float only: 2^n · e^r with n = round(x·log2 e) and r = x - n·ln 2 (Cody-Waite split),
    /// e^r from its degree-6 Taylor polynomial on |r| &lt;= ln2/2 (relative error about 2e-7). Results below
    /// e^-87 (subnormal range) and exp(-inf) are 0. Cheaper than <see cref="Vector256.Exp(Vector256{float})"/>,
    /// which widens to double; the sums it feeds need no more than float accuracy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpNonPositive(Vector256<float> x)
    {
        Vector256<float> n = Vector256.Round(x * Vector256.Create(1.44269504f));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.Create(1f / 720f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        Vector256<float> scale = ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-87f)), Vector256<float>.Zero, p * scale);
    }

    /// <summary>The 512-bit twin of <see cref="ExpNonPositive(Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        Vector512<float> n = Vector512.Round(x * Vector512.Create(1.44269504f));
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        Vector512<float> p = Vector512.Create(1f / 720f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        Vector512<float> scale = ((Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87f)), Vector512<float>.Zero, p * scale);
    }

    /// <summary>dest[i] = exp(x[i] - m) · scale for a finite m &gt;= every x[i] (softmax's second pass).</summary>
    internal static void ScaledExp(ReadOnlySpan<float> x, float m, float scale, Span<float> dest)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        ref float d = ref MemoryMarshal.GetReference(dest);
        int n = x.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            Vector512<float> mv = Vector512.Create(m), sv = Vector512.Create(scale);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                (ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)i) - mv) * sv).StoreUnsafe(ref d, (nuint)i);
            }
        }
        if (Vector256.IsHardwareAccelerated && n - i >= Vector256<float>.Count)
        {
            Vector256<float> mv = Vector256.Create(m), sv = Vector256.Create(scale);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                (ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)i) - mv) * sv).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            Unsafe.Add(ref d, i) = MathF.Exp(Unsafe.Add(ref r, i) - m) * scale;
        }
    }

    /// <summary>True when some id of <paramref name="a"/> or <paramref name="b"/> lies in [start, start + length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AnyIn(ReadOnlySpan<int> a, ReadOnlySpan<int> b, int start, int length)
    {
        for (int k = 0; k < a.Length; k++)
        {
            if ((uint)(a[k] - start) < (uint)length)
            {
                return true;
            }
        }
        for (int k = 0; k < b.Length; k++)
        {
            if ((uint)(b[k] - start) < (uint)length)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Sets the entries of <paramref name="block"/> whose absolute ids are listed to -inf.</summary>
    internal static void Ban(Span<float> block, int start, ReadOnlySpan<int> ids)
    {
        for (int k = 0; k < ids.Length; k++)
        {
            int j = ids[k] - start;
            if ((uint)j < (uint)block.Length)
            {
                block[j] = float.NegativeInfinity;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Contains(ReadOnlySpan<int> ids, int id)
    {
        for (int k = 0; k < ids.Length; k++)
        {
            if (ids[k] == id)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Lowest index in [0, n) not listed in <paramref name="banned"/>, or -1.</summary>
    internal static int LowestAllowed(int n, ReadOnlySpan<int> banned)
    {
        for (int i = 0; i < n; i++)
        {
            if (!Contains(banned, i))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// One pass over <paramref name="row"/> with the ids of both banned sets treated as -inf:
    /// returns the maximum M, its first index (or -1 if every allowed entry is -inf) and
    /// sum = Σ exp(x - M) over the allowed entries (0 when M is -inf). When M is +inf the sum is, by
    /// the limit convention, the number of allowed +inf entries.
    /// </summary>
    internal static float MaxSumExp(ReadOnlySpan<float> row, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB,
        out int argmax, out double sum)
    {
        Span<float> patch = stackalloc float[BlockSize];
        float m = float.NegativeInfinity;
        int idx = -1;
        double s = 0;
        int n = row.Length;
        for (int start = 0; start < n; start += BlockSize)
        {
            int len = Math.Min(BlockSize, n - start);
            scoped ReadOnlySpan<float> block = row.Slice(start, len);
            if (AnyIn(bannedA, bannedB, start, len))
            {
                // Rare: only the one or two blocks that hold a banned id are copied and patched.
                Span<float> p = patch[..len];
                block.CopyTo(p);
                Ban(p, start, bannedA);
                Ban(p, start, bannedB);
                block = p;
            }
            float bm = Max(block);
            if (bm > m)
            {
                idx = start + IndexOfFirstEqual(block, bm);
                if (float.IsPositiveInfinity(bm))
                {
                    m = bm;
                    break;
                }
                // Online rescale: exp(m_old - m_new) is exactly 0 when m_old is -inf (s is 0 then).
                s *= Math.Exp((double)m - bm);
                m = bm;
            }
            if (bm - m >= NegligibleExponent)
            {
                s += SumExp(block, m);
            }
        }
        if (float.IsPositiveInfinity(m))
        {
            s = CountPositiveInfinity(row, bannedA, bannedB);
        }
        argmax = idx;
        sum = s;
        return m;
    }

    private static int CountPositiveInfinity(ReadOnlySpan<float> row, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        int c = 0;
        for (int i = 0; i < row.Length; i++)
        {
            if (float.IsPositiveInfinity(row[i]) && !Contains(bannedA, i) && !Contains(bannedB, i))
            {
                c++;
            }
        }
        return c;
    }

    /// <summary>Orders floats as unsigned integers: a &lt; b (numerically) iff Ordered(a) &lt; Ordered(b);
    /// -0 and +0 map to the same key. Not for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Ordered(float x)
    {
        uint b = BitConverter.SingleToUInt32Bits(x + 0f); // -0 + 0 == +0
        return (b & 0x8000_0000u) != 0 ? ~b : b | 0x8000_0000u;
    }

    /// <summary>Key that sorts ascending by (value descending, id ascending).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong DescendingKey(float value, int id) => ((ulong)~Ordered(value) << 32) | (uint)id;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int KeyId(ulong key) => (int)(uint)key;
}
