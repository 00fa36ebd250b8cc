using MeDlm.Kernels;

namespace MeDlm.Tests;

public class SoftmaxTests
{
    [Fact]
    public void Softmax_matches_reference_on_random_rows()
    {
        foreach ((int it, Random r) in Gen.Runs(1001, 1500))
        {
            var l = Gen.Row(r, Gen.Length(r));
            var dest = new float[l.Length];
            Softmax.Compute(l, dest);
            var expected = Reference.Softmax(l);
            for (int i = 0; i < l.Length; i++)
            {
                Assert.False(float.IsNaN(dest[i]), $"NaN at {i} (iteration {it})");
                Assert.True(Gen.Close(dest[i], expected[i]), $"it {it} i {i}: {dest[i]} vs {expected[i]}");
            }
            if (l.Length > 0 && expected.Sum() > 0)
            {
                Assert.True(Math.Abs(dest.Sum(v => (double)v) - 1) < 1e-4);
            }
        }
    }

    [Fact]
    public void Edge_rows_never_give_NaN()
    {
        float ninf = float.NegativeInfinity, pinf = float.PositiveInfinity;
        float[][] rows =
        [
            [ninf, ninf, ninf],
            [1e4f, 1e4f - 1, -1e4f],
            [3.4e38f, -3.4e38f, 3.4e38f],
            [pinf, 0, pinf, ninf],
            [ninf],
            [5],
        ];
        foreach (var l in rows)
        {
            var p = new float[l.Length];
            Softmax.Compute(l, p);
            var ep = Reference.Softmax(l);
            for (int i = 0; i < l.Length; i++)
            {
                Assert.False(float.IsNaN(p[i]));
                Assert.True(Gen.Close(p[i], ep[i]), $"{string.Join(",", l)}: {p[i]} vs {ep[i]}");
            }
        }
        // The documented all -inf convention: zeros / -inf.
        var z = new float[3];
        Softmax.Compute([ninf, ninf, ninf], z);
        Assert.Equal([0f, 0f, 0f], z);
        Softmax.Compute([], []);
    }

    [Fact]
    public void Works_in_place()
    {
        foreach ((int it, Random r) in Gen.Runs(1003, 100))
        {
            var l = Gen.Row(r, Gen.Length(r));
            var a = (float[])l.Clone();
            var ea = new float[l.Length];
            Softmax.Compute(l, ea);
            Softmax.Compute(a, a);
            Assert.Equal(ea, a);
        }
    }

    [Fact]
    public void Short_destination_is_rejected() =>
        Assert.Throws<ArgumentException>(() => Softmax.Compute(new float[4], new float[3]));
}
