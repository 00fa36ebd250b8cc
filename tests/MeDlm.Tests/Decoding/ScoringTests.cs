using MeDlm.Decoding;
using MeDlm.Model;

namespace MeDlm.Tests.Decoding;

/// <summary>The decoder-side scoring helpers against simple references.</summary>
public sealed class ScoringTests
{
    [Fact]
    public void Double_top_k_matches_a_stable_sort_with_ties_to_the_lower_position()
    {
        var rng = new Random(5);
        for (int trial = 0; trial < 500; trial++)
        {
            int n = rng.Next(1, 40);
            double[] scores = new double[n];
            for (int i = 0; i < n; i++)
            {
                // Few distinct values so that ties are common; some -inf.
                int pick = rng.Next(6);
                scores[i] = pick == 0 ? double.NegativeInfinity : pick * 0.125;
            }
            int k = rng.Next(0, n + 2);
            int[] expected = [.. Enumerable.Range(0, n)
                .Where(i => scores[i] > double.NegativeInfinity)
                .OrderByDescending(i => scores[i]).ThenBy(i => i)
                .Take(Math.Max(0, k))];
            int[] dest = new int[n];
            int count = Scoring.TopK(scores, k, dest);
            Assert.Equal(expected, dest[..count]);
        }
    }

    [Fact]
    public void Double_top_k_keeps_differences_below_float_precision()
    {
        double[] scores = [0.5, 0.5 + 1e-12, 0.5 - 1e-12];
        int[] dest = new int[3];
        Assert.Equal(3, Scoring.TopK(scores, 3, dest));
        Assert.Equal([1, 0, 2], dest);
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(0.1)]
    [InlineData(0.7000000000000001)]
    public void Float_threshold_compares_like_the_float64_reference(double threshold)
    {
        float t = RowPlan.SmallestFloatAtLeast(threshold);
        foreach (float c in new[] { (float)threshold, MathF.BitDecrement((float)threshold), MathF.BitIncrement((float)threshold), t, MathF.BitDecrement(t) })
        {
            Assert.Equal((double)c >= threshold, c >= t);
        }
    }

    [Fact]
    public void Probability_of_a_token_honours_both_bans()
    {
        float[] row = [1f, 2f, 3f, 0.5f];
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(0.5); // id 2 banned
        Assert.Equal((float)(Math.Exp(1) / z), Scoring.ProbabilityOf(row, 0, [2], []), 6);
        Assert.Equal(0f, Scoring.ProbabilityOf(row, 2, [], [2]));
        Assert.Equal(0f, Scoring.ProbabilityOf(row, 3, [3], []));
        float[] withInf = [float.NegativeInfinity, 0f];
        Assert.Equal(0f, Scoring.ProbabilityOf(withInf, 0, [], []));
        Assert.Equal(1f, Scoring.ProbabilityOf(withInf, 1, [], []));
    }

    [Fact]
    public void Bans_follow_the_reference_per_algorithm()
    {
        var ids = new SpecialTokens(Mask: 9, Pad: 8, Delete: 7, End: 6, Eos: 8);
        RowPlan Plan(DecodingAlgorithm a, double temperature, bool eos, bool conf) =>
            new(0, [1], 4, a, 4, 0, 4, temperature, 0, 0.9, 0, eos, conf, 16, ids);

        RowPlan medlm = Plan(DecodingAlgorithm.MeDlm, 0, false, false);
        Assert.Equal([7], medlm.ArgmaxBan);
        Assert.Equal([8], medlm.NormaliserBan);
        Assert.True(medlm.Transition);

        RowPlan plain = Plan(DecodingAlgorithm.LowConfidence, 0, false, false);
        Assert.Empty(plain.ArgmaxBan);
        Assert.Empty(plain.NormaliserBan);
        Assert.False(plain.Transition);

        RowPlan both = Plan(DecodingAlgorithm.LowConfidence, 0, true, true);
        Assert.Equal([8], both.ArgmaxBan);
        Assert.Equal([6, 8], both.NormaliserBan);

        // With a temperature LLaDA only bans END from the confidence (its noisy logits are another tensor).
        RowPlan hot = Plan(DecodingAlgorithm.LowConfidence, 0.7, false, true);
        Assert.Empty(hot.ArgmaxBan);
        Assert.Equal([6], hot.NormaliserBan);
    }
}
