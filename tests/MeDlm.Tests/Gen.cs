namespace MeDlm.Tests;

/// <summary>Seeded random inputs that hit the edge cases: ties, -inf, huge logits, block boundaries.</summary>
internal static class Gen
{
    /// <summary>Row lengths around the 8-float vector width and the 1024-float block size.</summary>
    public static readonly int[] Lengths = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 1023, 1024, 1025, 2047, 2049, 3000];

    public static int Length(Random r) => Lengths[r.Next(Lengths.Length)];

    /// <summary>
    /// The iterations of a seeded property test: the iteration index and the one generator all of its draws
    /// come from (seeded once with <paramref name="seed"/>, so every run draws the same cases).
    /// </summary>
    public static IEnumerable<(int It, Random R)> Runs(int seed, int count)
    {
        var r = new Random(seed);
        for (int it = 0; it < count; it++)
        {
            yield return (it, r);
        }
    }

    /// <summary>A row of random length and kind and random bans for it, drawn in that order (<see cref="Length"/>, <see cref="Row"/>, <see cref="Banned"/>).</summary>
    public static (int N, float[] Row, int[] Banned) BannedRow(Random r)
    {
        int n = Length(r);
        float[] row = Row(r, n);
        return (n, row, Banned(r, n));
    }

    /// <summary>A logits row of a random "kind".</summary>
    public static float[] Row(Random r, int n)
    {
        var x = new float[n];
        int kind = r.Next(8);
        double scale = kind switch { 0 => 0.1, 1 => 1, 2 => 5, 3 => 30, _ => 3 };
        float offset = kind == 4 ? 1e4f : kind == 5 ? -1e4f : 0f;
        bool quantised = kind is 6 or 7 || r.Next(3) == 0;
        double pInf = kind == 7 ? 0.7 : r.Next(3) == 0 ? 0.2 : 0;
        for (int i = 0; i < n; i++)
        {
            double v = Normal(r) * scale;
            if (quantised)
            {
                v = Math.Round(v * 2) / 2; // many exact ties
            }
            x[i] = (float)v + offset;
            if (r.NextDouble() < pInf)
            {
                x[i] = float.NegativeInfinity;
            }
        }
        if (n > 0 && r.Next(25) == 0)
        {
            Array.Fill(x, float.NegativeInfinity);
        }
        if (n > 0 && r.Next(10) == 0)
        {
            // A peaked row: one logit far above the rest.
            x[r.Next(n)] = offset + 50f;
        }
        return x;
    }

    public static int[] Banned(Random r, int n)
    {
        int c = r.Next(4);
        var b = new int[c];
        for (int i = 0; i < c; i++)
        {
            // Mostly inside the row, sometimes outside (ignored), sometimes duplicated.
            b[i] = r.Next(10) == 0 ? n + r.Next(3) : n == 0 ? 0 : r.Next(n);
        }
        if (c >= 2 && r.Next(4) == 0)
        {
            b[1] = b[0];
        }
        return b;
    }

    public static double Normal(Random r)
    {
        double u1 = 1.0 - r.NextDouble();
        double u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>|actual - expected| within an absolute plus relative tolerance.</summary>
    public static bool Close(double actual, double expected, double abs = 1e-6, double rel = 1e-4)
    {
        if (double.IsNegativeInfinity(expected) || double.IsPositiveInfinity(expected))
        {
            return actual == expected;
        }
        return Math.Abs(actual - expected) <= abs + (rel * Math.Abs(expected));
    }

    /// <summary>Chi-square statistic of observed counts against expected probabilities (cells with p &gt; 0).</summary>
    public static double ChiSquare(long[] observed, double[] p, out int degrees)
    {
        long n = observed.Sum();
        double chi = 0;
        degrees = -1;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] <= 0)
            {
                Assert.True(observed[i] == 0, $"cell {i} has probability 0 but {observed[i]} draws");
                continue;
            }
            double e = n * p[i];
            chi += (observed[i] - e) * (observed[i] - e) / e;
            degrees++;
        }
        return chi;
    }

    /// <summary>A generous upper bound for chi-square with d degrees of freedom (mean d, sd sqrt(2d)): mean + 6 sd.</summary>
    public static double ChiSquareBound(int d) => d + (6 * Math.Sqrt(2.0 * d)) + 10;
}
