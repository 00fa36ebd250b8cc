using MeDlm.Kernels;

namespace MeDlm.Tests;

public class SamplingTests
{
    private static int GumbelReference(float[] l, double t, ulong key, int[] banned)
    {
        int best = -1;
        double bestScore = double.NegativeInfinity;
        for (int v = 0; v < l.Length; v++)
        {
            if (float.IsNegativeInfinity(l[v]) || banned.Contains(v))
            {
                continue;
            }
            double score = l[v] - t * Math.Log(-Math.Log(CounterRng.Uniform(key, (ulong)v)));
            if (score > bestScore)
            {
                bestScore = score;
                best = v;
            }
        }
        return best >= 0 ? best : Reference.Argmax(l, banned);
    }

    [Fact]
    public void Gumbel_matches_reference_formula()
    {
        foreach ((int it, Random r) in Gen.Runs(4001, 800))
        {
            var (n, l, banned) = Gen.BannedRow(r);
            double t = r.Next(4) switch { 0 => 0, 1 => 0.3, 2 => 1, _ => 2.5 };
            ulong key = CounterRng.Key((ulong)it, CounterRng.PurposeGumbel, (ulong)r.Next(64), (ulong)r.Next(600));
            int expected = t > 0 ? GumbelReference(l, t, key, banned) : Reference.Argmax(l, banned);
            Assert.Equal(expected, Sampling.GumbelArgmax(l, t, key, banned));
        }
    }

    [Fact]
    public void Gumbel_agrees_with_LLaDA_literal_expression_on_moderate_logits()
    {
        // LLaDA: argmax exp(l) / (-log U)^T in float64. The kernel takes the log of it.
        int agree = 0, total = 0;
        foreach ((int it, Random r) in Gen.Runs(4002, 2000))
        {
            var l = Enumerable.Range(0, 50).Select(_ => (float)(Gen.Normal(r) * 3)).ToArray();
            double t = 0.5 + r.NextDouble();
            ulong key = CounterRng.Key(9, CounterRng.PurposeGumbel, 0, (ulong)it);
            int literal = 0;
            double best = double.NegativeInfinity;
            for (int v = 0; v < l.Length; v++)
            {
                double g = Math.Exp(l[v]) / Math.Pow(-Math.Log(CounterRng.Uniform(key, (ulong)v)), t);
                if (g > best)
                {
                    best = g;
                    literal = v;
                }
            }
            total++;
            agree += literal == Sampling.GumbelArgmax(l, t, key, []) ? 1 : 0;
        }
        Assert.True(agree >= total - 2, $"{agree} of {total}");
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void Gumbel_samples_softmax_of_logits_over_temperature(double t)
    {
        float[] l = [1.0f, 2.0f, 0.0f, float.NegativeInfinity, 2.0f, -1.0f, 3.0f, 0.5f];
        int[] banned = [6];
        var scaled = l.Select((v, i) => banned.Contains(i) ? float.NegativeInfinity : (float)(v / t)).ToArray();
        var p = Reference.Softmax(scaled);
        var counts = new long[l.Length];
        const int n = 60_000;
        for (int pos = 0; pos < n; pos++)
        {
            counts[Sampling.GumbelArgmax(l, t, CounterRng.Key(123, CounterRng.PurposeGumbel, 4, (ulong)pos), banned)]++;
        }
        double chi = Gen.ChiSquare(counts, p, out int d);
        Assert.True(chi < Gen.ChiSquareBound(d), $"chi-square {chi}, {d} dof, counts {string.Join(",", counts)}");
    }

    [Fact]
    public void Categorical_matches_reference_definition()
    {
        int[] ks = [0, 1, 2, 3, 10, 50, 1000];
        double[] ps = [1.0, 0.99, 0.9, 0.5, 0.1, 0.0];
        foreach ((int it, Random r) in Gen.Runs(4003, 3000))
        {
            int n = Gen.Lengths[r.Next(12)]; // up to 64: the reference sorts with LINQ
            var l = Gen.Row(r, n);
            var banned = Gen.Banned(r, n);
            double t = r.Next(5) == 0 ? 0 : 0.2 + (2 * r.NextDouble());
            int k = ks[r.Next(ks.Length)];
            double topP = ps[r.Next(ps.Length)];
            double u = CounterRng.Uniform(CounterRng.Key((ulong)it, CounterRng.PurposeCategorical, 0, 0), 0);
            var scratch = new ulong[Math.Max(n, 1)];
            int expected = Reference.Categorical(l, t, k, topP, u, banned);
            int got = Sampling.SampleCategorical(l, t, k, topP, u, scratch, banned);
            Assert.True(expected == got, $"it {it}: n {n} t {t} k {k} p {topP} u {u}: {got} vs {expected}");
        }
    }

    [Fact]
    public void Categorical_matches_reference_on_long_rows_with_many_ties()
    {
        // Logits on a coarse grid (many exact ties across the top-k / top-p boundary), rows of a few thousand.
        foreach ((int it, Random r) in Gen.Runs(4004, 120))
        {
            int n = 1 + r.Next(3000);
            var l = new float[n];
            for (int v = 0; v < n; v++)
            {
                l[v] = r.Next(10) == 0 ? float.NegativeInfinity : r.Next(-12, 4) * 0.5f;
            }
            var banned = Gen.Banned(r, n);
            double t = 0.3 + (1.5 * r.NextDouble());
            int k = r.Next(3) == 0 ? 0 : 1 + r.Next(200);
            double topP = r.Next(3) == 0 ? 1.0 : r.NextDouble();
            double u = CounterRng.Uniform(CounterRng.Key((ulong)it, CounterRng.PurposeCategorical, 1, 0), 0);
            var scratch = new ulong[n];
            int expected = Reference.Categorical(l, t, k, topP, u, banned);
            int got = Sampling.SampleCategorical(l, t, k, topP, u, scratch, banned);
            Assert.True(expected == got, $"it {it}: n {n} t {t} k {k} p {topP} u {u}: {got} vs {expected}");
        }
    }

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(3, 1.0)]
    [InlineData(0, 0.8)]
    [InlineData(4, 0.7)]
    [InlineData(1, 1.0)]
    public void Categorical_follows_the_renormalised_distribution(int topK, double topP)
    {
        float[] l = [0.2f, 1.5f, -0.3f, 1.0f, float.NegativeInfinity, 0.9f, 2.2f, -1.0f, 0.0f, 1.5f];
        int[] banned = [8];
        const double t = 0.8;
        // Expected: the kept set per the definition, renormalised.
        var w = l.Select((v, i) => banned.Contains(i) || float.IsNegativeInfinity(v) ? 0 : Math.Exp(v / t)).ToArray();
        double z = w.Sum();
        var order = Enumerable.Range(0, l.Length).Where(i => w[i] > 0).OrderByDescending(i => l[i]).ThenBy(i => i).ToList();
        var kept = new List<int>();
        double before = 0;
        foreach (int i in order)
        {
            if ((topK > 0 && kept.Count >= topK) || (topP < 1 && before > topP * z))
            {
                break;
            }
            kept.Add(i);
            before += w[i];
        }
        var p = new double[l.Length];
        double zk = kept.Sum(i => w[i]);
        foreach (int i in kept)
        {
            p[i] = w[i] / zk;
        }
        var counts = new long[l.Length];
        var scratch = new ulong[l.Length];
        const int n = 60_000;
        for (int pos = 0; pos < n; pos++)
        {
            double u = CounterRng.Uniform(CounterRng.Key(77, CounterRng.PurposeCategorical, 2, (ulong)pos), 0);
            counts[Sampling.SampleCategorical(l, t, topK, topP, u, scratch, banned)]++;
        }
        if (kept.Count == 1)
        {
            Assert.Equal(n, counts[kept[0]]);
            return;
        }
        double chi = Gen.ChiSquare(counts, p, out int d);
        Assert.True(chi < Gen.ChiSquareBound(d), $"chi-square {chi}, {d} dof, counts {string.Join(",", counts)}");
    }

    [Fact]
    public void Categorical_top_p_on_a_large_flat_row_and_a_peaked_row()
    {
        var flat = new float[5000];
        var scratch = new ulong[5000];
        int got = Sampling.SampleCategorical(flat, 1.0, 0, 0.5, 0.999, scratch, []);
        // Flat: order is by id, the nucleus is ids 0..2500 (exclusive mass <= 0.5), sampled by id order.
        Assert.Equal(Reference.Categorical(flat, 1.0, 0, 0.5, 0.999, []), got);
        Assert.InRange(got, 2400, 2500);

        var peaked = new float[5000];
        peaked[1234] = 30f;
        Assert.Equal(1234, Sampling.SampleCategorical(peaked, 1.0, 0, 0.9, 0.5, scratch, []));
        Assert.Throws<ArgumentException>(() => Sampling.SampleCategorical(peaked, 1.0, 0, 0.9, 0.5, new ulong[10], []));
        Assert.Throws<ArgumentException>(() => Sampling.SampleCategorical(peaked, 1.0, 20, 1.0, 0.5, new ulong[10], []));
    }
}
