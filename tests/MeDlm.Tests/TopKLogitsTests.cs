using MeDlm.Decoding;
using MeDlm.Kernels;

namespace MeDlm.Tests;

/// <summary>The top-K form kernels against the full-row kernels on the same rows.</summary>
public class TopKLogitsTests
{
    /// <summary>
    /// A random full row of 6 to 299 logits, two ban lists, the special ids (both bans and one more), K, and
    /// the row's top-K <see cref="Form"/>.
    /// </summary>
    private sealed record TopKCase(int N, float[] Row, int[] BannedA, int[] BannedB, int[] Specials, int K,
        long[] Ids, float[] Logits, float Lse, float[] Special)
    {
        public static TopKCase Draw(Random r)
        {
            int n = r.Next(6, 300);
            float[] row = Gen.Row(r, n);
            int[] bannedA = Enumerable.Range(0, r.Next(0, 3)).Select(_ => r.Next(n)).ToArray();
            int[] bannedB = Enumerable.Range(0, r.Next(0, 3)).Select(_ => r.Next(n)).ToArray();
            int[] specials = bannedA.Concat(bannedB).Append(r.Next(n)).Distinct().ToArray();
            int k = r.Next(specials.Length + 1, Math.Min(n, 40) + 1);
            (long[] ids, float[] logits, float lse, float[] special) = Form(r, row, k, specials);
            return new TopKCase(n, row, bannedA, bannedB, specials, k, ids, logits, lse, special);
        }
    }

    /// <summary>A row's top-K form: K entries by (logit desc, id asc) in shuffled order, float32 lse, special logits.</summary>
    private static (long[] Ids, float[] Logits, float Lse, float[] Special) Form(Random r, float[] row, int k, int[] specialIds)
    {
        int[] order = Enumerable.Range(0, row.Length).OrderByDescending(i => row[i]).ThenBy(i => i).Take(k).ToArray();
        r.Shuffle(order);
        double max = row.Max();
        double lse = double.IsNegativeInfinity(max) ? max : max + Math.Log(row.Sum(l => Math.Exp(l - max)));
        return (order.Select(i => (long)i).ToArray(), order.Select(i => row[i]).ToArray(), (float)lse,
            specialIds.Select(i => row[i]).ToArray());
    }

    [Fact]
    public void Argmax_and_probability_match_the_full_row()
    {
        int compared = 0;
        foreach ((int it, Random r) in Gen.Runs(7001, 4000))
        {
            var (n, row, bannedA, bannedB, specials, k, ids, logits, lse, special) = TopKCase.Draw(r);

            int expected = Argmax.Index(row, bannedA);
            int x = TopKLogits.Argmax(ids, logits, bannedA, out float logit);
            Assert.Equal(expected, x);
            Assert.Equal(row[x], logit);

            if (float.IsInfinity(lse) || float.IsNaN(lse))
            {
                continue; // all -inf: both give 0 below only through the token's own -inf
            }
            double exact = Confidence.ExactProbability(row, x, bannedA, bannedB);
            double p = TopKLogits.Probability(x, logit, lse, ids, logits, n, specials, special, bannedA, bannedB);
            int[] banned = bannedA.Concat(bannedB).Distinct().ToArray();
            double max = row.Max();
            double Mass(IEnumerable<int> which) => which.Sum(i => Math.Exp(row[i] - max));
            double allowed = Mass(Enumerable.Range(0, n).Where(i => !banned.Contains(i)));
            double bannedShare = Mass(banned) / (allowed + Mass(banned));
            double topAllowed = Mass(ids.Select(i => (int)i).Where(i => !banned.Contains(i)));
            double outsideBound = (n - k) * Math.Exp(logits.Min() - max); // what the top K allow outside them
            // The float32 log-sum-exp is the only approximation: within one float ulp of it, through p and
            // 1 - banned mass; where that difference has lost its digits, the top K bound the rest.
            double delta = MathF.BitIncrement(Math.Abs(lse)) - Math.Abs(lse);
            double viaDifference = 2 * delta * (1 + (bannedShare / Math.Max(1 - bannedShare, 1e-300)));
            double viaTopK = (outsideBound / Math.Max(topAllowed, 1e-300)) + (4 * delta);
            double tolerance = (exact * Math.Min(viaDifference, viaTopK)) + 1e-12;
            Assert.True(Math.Abs(p - exact) <= tolerance, $"it {it}: p {p} vs exact {exact} (lse {lse}, x {x}, banned share {bannedShare}, top-K bound {viaTopK})");
            Assert.InRange(p, 0, 1);
            compared++;
        }
        Assert.True(compared > 3000);
    }

    [Fact]
    public void Probability_from_the_rest_matches_the_full_row()
    {
        int compared = 0;
        foreach ((int it, Random r) in Gen.Runs(7002, 4000))
        {
            var (n, row, bannedA, bannedB, specials, _, ids, logits, _, special) = TopKCase.Draw(r);
            int[] outside = Enumerable.Range(0, n).Where(i => !ids.Contains(i)).ToArray();
            double m = outside.Length == 0 ? double.NegativeInfinity : outside.Max(i => (double)row[i]);
            float rest = double.IsNegativeInfinity(m) ? float.NegativeInfinity : (float)(m + Math.Log(outside.Sum(i => Math.Exp(row[i] - m))));

            int x = TopKLogits.Argmax(ids, logits, bannedA, out float logit);
            if (x < 0 || float.IsNaN(rest) || float.IsPositiveInfinity(rest) || float.IsPositiveInfinity(logit))
            {
                continue;
            }
            double exact = Confidence.ExactProbability(row, x, bannedA, bannedB);
            double p = TopKLogits.ProbabilityFromRest(x, logit, rest, ids, logits, specials, special, bannedA, bannedB);

            // Only the outside share carries the float32 rounding of the rest's log-sum-exp.
            int[] banned = bannedA.Concat(bannedB).Distinct().ToArray();
            double top = logits.Max();
            double z = Enumerable.Range(0, n).Where(i => !banned.Contains(i)).Sum(i => Math.Exp(row[i] - top));
            double restShare = float.IsNegativeInfinity(rest) ? 0 : Math.Exp(rest - top) / Math.Max(z, 1e-300);
            double delta = float.IsFinite(rest) ? MathF.BitIncrement(Math.Abs(rest)) - Math.Abs(rest) : 0;
            double tolerance = (exact * 2 * restShare * (delta + 1e-6)) + 1e-12;
            Assert.True(Math.Abs(p - exact) <= tolerance, $"it {it}: p {p} vs exact {exact} (rest share {restShare})");
            Assert.InRange(p, 0, 1);
            compared++;
        }
        Assert.True(compared > 3000, $"{compared} compared");
    }

    [Fact]
    public void Ties_go_to_the_lower_id_in_any_order()
    {
        long[] ids = [40, 7, 12, 3];
        float[] logits = [2f, 5f, 5f, 1f];
        Assert.Equal(7, TopKLogits.Argmax(ids, logits, [], out float l));
        Assert.Equal(5f, l);
        Assert.Equal(12, TopKLogits.Argmax(ids, logits, [7], out _));
        Assert.Equal(40, TopKLogits.Argmax(ids, logits, [7, 12], out _));
        Assert.Equal(3, TopKLogits.Argmax([40, 3], [float.NegativeInfinity, float.NegativeInfinity], [], out _));
    }

    [Fact]
    public void Empty_or_all_banned_gives_minus_one()
    {
        Assert.Equal(-1, TopKLogits.Argmax([], [], [], out float l));
        Assert.Equal(float.NegativeInfinity, l);
        Assert.Equal(-1, TopKLogits.Argmax([4, 5], [1f, 2f], [4, 5], out _));
        Assert.Equal(4, TopKLogits.Argmax([4], [0f], [], out _)); // K = 1
    }

    [Fact]
    public void Banned_tokens_have_no_probability_and_leave_the_normaliser()
    {
        // Row [ln 1, ln 2, ln 1] (ids 0..2): p(1) = 0.5; with 2 banned: 2/3; id 2 itself banned: 0.
        float lse = MathF.Log(4);
        int[] specials = [2];
        float[] special = [0f];
        Assert.Equal(0.5, TopKLogits.Probability(1, MathF.Log(2), lse, [1], [MathF.Log(2)], 3, specials, special, [], []), 6);
        Assert.Equal(2.0 / 3, TopKLogits.Probability(1, MathF.Log(2), lse, [1], [MathF.Log(2)], 3, specials, special, [], [2]), 6);
        Assert.Equal(2.0 / 3, TopKLogits.Probability(1, MathF.Log(2), lse, [1], [MathF.Log(2)], 3, specials, special, [2], [2]), 6); // counted once
        Assert.Equal(0.0, TopKLogits.Probability(2, 0f, lse, [1], [MathF.Log(2)], 3, specials, special, [], [2]));
        Assert.Equal(0.0, TopKLogits.Probability(1, float.NegativeInfinity, lse, [1], [MathF.Log(2)], 3, specials, special, [], []));
        Assert.Throws<ArgumentException>(() => TopKLogits.Probability(1, 0f, lse, [1], [MathF.Log(2)], 3, specials, special, [0], []));
    }

    [Fact]
    public void Logits_near_ten_thousand_stay_finite()
    {
        float[] row = [1e4f, 1e4f - 1, 1e4f - 2, -1e4f];
        (long[] ids, float[] logits, float lse, float[] special) = Form(new Random(1), row, 3, [3]);
        int x = TopKLogits.Argmax(ids, logits, [], out float l);
        double p = TopKLogits.Probability(x, l, lse, ids, logits, 4, [3], special, [], [3]);
        Assert.Equal(0, x);
        Assert.True(double.IsFinite(p));
        Assert.Equal(Confidence.ExactProbability(row, 0, [], [3]), p, 3);
    }
}
