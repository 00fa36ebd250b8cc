using MeDlm.Kernels;

namespace MeDlm.Tests;

public class CounterRngTests
{
    // Literal values computed by an independent implementation (Python integers mod 2^64, see the
    // CounterRng doc comment); the Python reference decoders must reproduce them too.
    [Theory]
    [InlineData(0x0000000000000000UL, 0x0000000000000000UL)]
    [InlineData(0x0000000000000001UL, 0x5692161D100B05E5UL)]
    [InlineData(0xFFFFFFFFFFFFFFFFUL, 0xB4D055FCF2CBBD7BUL)]
    public void Mix64_matches_pinned_values(ulong z, ulong expected) => Assert.Equal(expected, CounterRng.Mix64(z));

    [Theory]
    [InlineData(0UL, 1UL, 0UL, 0UL, 0x7D2A6F022D441849UL, 0x57AA9723D5CC9F7BUL, 0.3424467527855079, 0.7132920400531018)]
    [InlineData(42UL, 1UL, 3UL, 17UL, 0xBBDEE538A71E833CUL, 0xA516DFFB665A38F9UL, 0.6448802937287406, 0.8972613665076139)]
    [InlineData(42UL, 2UL, 3UL, 17UL, 0x4387F7E1D89F820BUL, 0x84F29A09EBC26767UL, 0.519326808378318, 0.05765944130860329)]
    [InlineData(42UL, 3UL, 3UL, 17UL, 0xB61307F170E688A1UL, 0x70A0561BFFC29ED2UL, 0.4399465387684906, 0.8928776854474647)]
    [InlineData(12345678901234567890UL, 1UL, 63UL, 511UL, 0xF74B6EF9975658B8UL, 0x9DD45F2D198B2219UL, 0.6165217862231143, 0.5884333186205368)]
    public void Key_raw_and_uniform_match_pinned_values(ulong seed, ulong purpose, ulong step, ulong position,
        ulong key, ulong raw0, double u0, double u126463)
    {
        ulong k = CounterRng.Key(seed, purpose, step, position);
        Assert.Equal(key, k);
        Assert.Equal(raw0, CounterRng.NextRaw(k, 0));
        Assert.Equal(u0, CounterRng.Uniform(k, 0));
        Assert.Equal(u126463, CounterRng.Uniform(k, 126463));
    }

    [Fact]
    public void Uniforms_equal_the_scalar_draws_bit_for_bit()
    {
        var r = new Random(4100);
        var dest = new double[70];
        for (int it = 0; it < 500; it++)
        {
            ulong key = (ulong)r.NextInt64() ^ ((ulong)r.Next() << 40);
            // Near 2^64 too: the index wraps as the scalar's key + index does.
            ulong first = it % 5 == 0 ? ulong.MaxValue - (ulong)r.Next(8) : (ulong)r.Next(200_000);
            int n = r.Next(dest.Length + 1); // 0 .. 70: empty, below one vector, vector + tail
            Span<double> d = dest.AsSpan(0, n);
            CounterRng.Uniforms(key, first, d);
            for (int j = 0; j < n; j++)
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(CounterRng.Uniform(key, first + (ulong)j)), BitConverter.DoubleToInt64Bits(d[j]));
            }
        }
        // The one draw that the formula rounds to 1.0 is clamped in the vector lanes too.
        var four = new double[4];
        CounterRng.Uniforms(0x93A5AA5815EAC34CUL, 0, four);
        Assert.Equal(1.0 - Math.Pow(2, -53), four[0]);
    }

    [Fact]
    public void Uniform_extremes_stay_strictly_inside_the_unit_interval()
    {
        // Keys chosen (by inverting mix64) so that mix64(key) >> 11 is 2^53 - 1 and 0.
        double top = CounterRng.Uniform(0x93A5AA5815EAC34CUL, 0);
        Assert.Equal(1.0 - Math.Pow(2, -53), top); // the formula alone would round to exactly 1.0
        Assert.True(top < 1.0);
        Assert.Equal(Math.Pow(2, -54), CounterRng.Uniform(0, 0)); // mix64(0) = 0: (0 + 0.5) * 2^-53
        Assert.Equal(0.07111111111111107, CounterRng.Uniform(0x3EB7E432BD024145UL, 0));
    }

    [Fact]
    public void Uniforms_are_uniform_chi_square()
    {
        const int bins = 64;
        const int n = 200_000;
        var counts = new long[bins];
        ulong key = CounterRng.Key(7, CounterRng.PurposeGumbel, 5, 11);
        for (int i = 0; i < n; i++)
        {
            double u = CounterRng.Uniform(key, (ulong)i);
            Assert.True(u > 0 && u < 1);
            counts[(int)(u * bins)]++;
        }
        var p = Enumerable.Repeat(1.0 / bins, bins).ToArray();
        double chi = Gen.ChiSquare(counts, p, out int d);
        Assert.True(chi < Gen.ChiSquareBound(d), $"chi-square {chi} with {d} degrees of freedom");

        // Across keys (positions) at a fixed index as well: the per-position draws must also be uniform.
        Array.Clear(counts);
        for (int pos = 0; pos < n; pos++)
        {
            counts[(int)(CounterRng.Uniform(CounterRng.Key(7, CounterRng.PurposeRemask, 0, (ulong)pos), 0) * bins)]++;
        }
        chi = Gen.ChiSquare(counts, p, out d);
        Assert.True(chi < Gen.ChiSquareBound(d), $"chi-square {chi} with {d} degrees of freedom");
    }

    [Fact]
    public void Streams_differ_by_every_coordinate()
    {
        ulong k = CounterRng.Key(1, 1, 1, 1);
        Assert.NotEqual(k, CounterRng.Key(2, 1, 1, 1));
        Assert.NotEqual(k, CounterRng.Key(1, 2, 1, 1));
        Assert.NotEqual(k, CounterRng.Key(1, 1, 2, 1));
        Assert.NotEqual(k, CounterRng.Key(1, 1, 1, 2));
        Assert.Equal(k, CounterRng.Key(1, 1, 1, 1)); // pure function
    }
}
