using MeDlm.Kernels;

namespace MeDlm.Tests;

public class SelectionTests
{
    private static float[] Scores(Random r, int n)
    {
        var s = new float[n];
        int kind = r.Next(4);
        for (int i = 0; i < n; i++)
        {
            s[i] = kind switch
            {
                0 => (float)r.NextDouble(),
                1 => r.Next(4) / 4f, // heavy ties
                2 => r.Next(3) == 0 ? float.NegativeInfinity : r.Next(10), // ties and -inf (committed positions)
                _ => r.Next(20) == 0 ? float.NaN : (float)Gen.Normal(r),
            };
        }
        if (n > 0 && r.Next(20) == 0)
        {
            Array.Fill(s, float.NegativeInfinity);
        }
        return s;
    }

    [Fact]
    public void TopK_matches_full_sort_reference()
    {
        var r = new Random(5001);
        for (int it = 0; it < 4000; it++)
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
        float[] s = [1, 5, 3, 5, 3, 3, float.NegativeInfinity, 5];
        var d = new int[4];
        Assert.Equal(4, Selection.TopK(s, 4, d));
        Assert.Equal([1, 3, 7, 2], d);
        Assert.Equal(0, Selection.TopK(s, 0, d));
        Assert.Equal(0, Selection.TopK([], 3, d));
        Assert.Equal(0, Selection.TopK([float.NegativeInfinity, float.NegativeInfinity], 2, d));
        Assert.Throws<ArgumentException>(() => Selection.TopK(s, 5, d));
    }

    [Fact]
    public void Threshold_matches_reference()
    {
        var r = new Random(5002);
        for (int it = 0; it < 3000; it++)
        {
            int n = r.Next(3) == 0 ? r.Next(4) : r.Next(300);
            var s = Scores(r, n);
            float tau = r.Next(3) switch { 0 => 0.9f, 1 => (float)r.NextDouble(), _ => 5f };
            var dest = new int[n];
            int c = Selection.Threshold(s, tau, dest);
            Assert.Equal(Reference.Threshold(s, tau), dest[..c]);
        }
    }

    [Fact]
    public void Threshold_always_commits_at_least_the_best()
    {
        var d = new int[4];
        Assert.Equal(1, Selection.Threshold([0.1f, 0.3f, 0.3f, float.NegativeInfinity], 0.9f, d));
        Assert.Equal(1, d[0]);
        Assert.Equal(0, Selection.Threshold([float.NegativeInfinity], 0.9f, d));
        Assert.Equal(2, Selection.Threshold([0.95f, 0.3f, 0.9f], 0.9f, d));
        Assert.Equal([0, 2], d[..2]);
    }
}
