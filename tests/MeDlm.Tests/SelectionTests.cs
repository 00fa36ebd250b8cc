using MeDlm.Kernels;

namespace MeDlm.Tests;

/// <summary>Position selection (the decoders' top-k and threshold rules) against a full-sort reference.</summary>
public class SelectionTests
{
    private static double[] Scores(Random r, int n)
    {
        var s = new double[n];
        int kind = r.Next(6);
        for (int i = 0; i < n; i++)
        {
            s[i] = kind switch
            {
                0 => r.NextDouble(),
                1 => r.Next(4) / 4.0, // heavy ties
                2 => r.Next(3) == 0 ? double.NegativeInfinity : r.Next(10), // ties and -inf (committed positions)
                3 => 1.0 - (r.Next(8) * 1e-12), // confidences near 1 that float32 would merge
                4 => r.Next(5) == 0 ? double.NegativeInfinity : (r.NextDouble() - 0.5) * 1e300, // huge magnitudes
                _ => r.Next(20) == 0 ? double.NaN : Gen.Normal(r),
            };
        }
        if (n > 0 && r.Next(20) == 0)
        {
            Array.Fill(s, double.NegativeInfinity);
        }
        return s;
    }

    [Fact]
    public void TopK_matches_full_sort_reference()
    {
        foreach ((int it, Random r) in Gen.Runs(5001, 4000))
        {
            int n = r.Next(3) == 0 ? r.Next(5) : r.Next(700);
            var s = Scores(r, n);
            int k = r.Next(4) switch { 0 => 0, 1 => r.Next(1, 5), 2 => n + r.Next(3), _ => r.Next(n + 1) };
            var dest = new int[Math.Max(0, Math.Min(k, n))];
            int c = Selection.TopK(s, k, dest);
            var expected = Reference.TopK(s, k);
            Assert.Equal(expected, dest[..c]);
        }
    }

    [Fact]
    public void TopK_prefers_the_lower_position_at_the_cut()
    {
        double[] s = [1, 5, 3, 5, 3, 3, double.NegativeInfinity, 5];
        var d = new int[4];
        Assert.Equal(4, Selection.TopK(s, 4, d));
        Assert.Equal([1, 3, 7, 2], d);
        Assert.Equal(0, Selection.TopK(s, 0, d));
        Assert.Equal(0, Selection.TopK([], 3, d));
        Assert.Equal(1, Selection.TopK([0.25], 3, d));
        Assert.Equal(0, d[0]);
        Assert.Equal(0, Selection.TopK([double.NegativeInfinity, double.NegativeInfinity], 2, d));
        Assert.Throws<ArgumentException>(() => Selection.TopK(s, 5, d));
    }

    [Fact]
    public void TopK_keeps_differences_below_float_precision()
    {
        double[] scores = [0.5, 0.5 + 1e-12, 0.5 - 1e-12];
        int[] dest = new int[3];
        Assert.Equal(3, Selection.TopK(scores, 3, dest));
        Assert.Equal([1, 0, 2], dest);
    }

    [Fact]
    public void Threshold_matches_reference()
    {
        foreach ((int it, Random r) in Gen.Runs(5002, 3000))
        {
            int n = r.Next(3) == 0 ? r.Next(4) : r.Next(300);
            var s = Scores(r, n);
            double tau = r.Next(4) switch { 0 => 0.9, 1 => r.NextDouble(), 2 => 1.0 - (r.Next(8) * 1e-12), _ => 5 };
            var dest = new int[n];
            int c = Selection.Threshold(s, tau, dest);
            Assert.Equal(Reference.Threshold(s, tau), dest[..c]);
        }
    }

    [Fact]
    public void Threshold_always_commits_at_least_the_best()
    {
        var d = new int[4];
        Assert.Equal(1, Selection.Threshold([0.1, 0.3, 0.3, double.NegativeInfinity], 0.9, d));
        Assert.Equal(1, d[0]);
        Assert.Equal(0, Selection.Threshold([double.NegativeInfinity], 0.9, d));
        Assert.Equal(0, Selection.Threshold([], 0.9, d));
        Assert.Equal(2, Selection.Threshold([0.95, 0.3, 0.9], 0.9, d));
        Assert.Equal([0, 2], d[..2]);
    }

    [Fact]
    public void Threshold_compares_in_float64()
    {
        int[] dest = new int[4];
        double[] scores = [0.2, 0.9, double.NegativeInfinity, 0.9 - 1e-12];
        Assert.Equal(1, Selection.Threshold(scores, 0.9, dest));
        Assert.Equal(1, dest[0]);
    }
}
