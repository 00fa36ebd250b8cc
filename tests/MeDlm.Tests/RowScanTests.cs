using System.Runtime.Intrinsics;
using MeDlm.Kernels;

namespace MeDlm.Tests;

public class RowScanTests
{
    [Fact]
    public void Fast_exp_is_accurate_on_the_non_positive_range()
    {
        double worst = 0;
        foreach ((int it, Random r) in Gen.Runs(9001, 20_000))
        {
            var x = new float[8];
            for (int l = 0; l < 8; l++)
            {
                x[l] = it < 100 ? -(float)(it * 0.87) - (l * 0.01f) : -(float)(r.NextDouble() * 87);
            }
            var e = RowScan.ExpNonPositive(Vector256.Create(x));
            for (int l = 0; l < 8; l++)
            {
                double expected = Math.Exp(x[l]);
                double got = e.GetElement(l);
                if (x[l] >= -87f)
                {
                    worst = Math.Max(worst, Math.Abs(got - expected) / expected);
                }
                else
                {
                    Assert.Equal(0.0, got);
                }
            }
        }
        Assert.True(worst < 1e-6, $"worst relative error {worst}");
        var special = RowScan.ExpNonPositive(Vector256.Create(float.NegativeInfinity, 0f, -0f, -1e4f, -87.5f, -1f, -1e-8f, -0.5f));
        Assert.Equal(0f, special.GetElement(0));
        Assert.Equal(1f, special.GetElement(1));
        Assert.Equal(1f, special.GetElement(2));
        Assert.Equal(0f, special.GetElement(3));
        Assert.Equal(0f, special.GetElement(4));
        Assert.Equal(Math.Exp(-1), special.GetElement(5), 1e-6);
    }

    [Fact]
    public void Ordered_keys_follow_float_order_and_merge_signed_zeros()
    {
        float[] v = [float.NegativeInfinity, -1e30f, -1f, -float.Epsilon, -0f, 0f, float.Epsilon, 1f, 1e30f, float.PositiveInfinity];
        for (int i = 0; i + 1 < v.Length; i++)
        {
            if (v[i] == v[i + 1])
            {
                Assert.Equal(RowScan.Ordered(v[i]), RowScan.Ordered(v[i + 1]));
            }
            else
            {
                Assert.True(RowScan.Ordered(v[i]) < RowScan.Ordered(v[i + 1]), $"{v[i]} vs {v[i + 1]}");
            }
        }
        Assert.True(RowScan.DescendingKey(2f, 5) < RowScan.DescendingKey(1f, 0));
        Assert.True(RowScan.DescendingKey(1f, 3) < RowScan.DescendingKey(1f, 4));
        Assert.Equal(7, RowScan.KeyId(RowScan.DescendingKey(-3f, 7)));
    }
}

public class RowScanWideTests
{
    [Fact]
    public void Fast_exp_512_equals_the_256_bit_version_lane_by_lane()
    {
        foreach ((int it, Random r) in Gen.Runs(9002, 5000))
        {
            var x = new float[16];
            for (int l = 0; l < 16; l++)
            {
                x[l] = r.Next(50) == 0 ? float.NegativeInfinity : -(float)(r.NextDouble() * 100);
            }
            var wide = RowScan.ExpNonPositive(System.Runtime.Intrinsics.Vector512.Create(x));
            var lo = RowScan.ExpNonPositive(System.Runtime.Intrinsics.Vector256.Create(x, 0));
            var hi = RowScan.ExpNonPositive(System.Runtime.Intrinsics.Vector256.Create(x, 8));
            for (int l = 0; l < 8; l++)
            {
                Assert.Equal(lo.GetElement(l), wide.GetElement(l));
                Assert.Equal(hi.GetElement(l), wide.GetElement(l + 8));
            }
        }
    }
}
