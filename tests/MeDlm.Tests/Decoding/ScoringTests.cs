using MeDlm.Decoding;
using MeDlm.Generation;
using MeDlm.Model;

namespace MeDlm.Tests.Decoding;

/// <summary>The decoder-side scoring helpers against simple references.</summary>
public sealed class ScoringTests
{
    [Fact]
    public void Top_k_matches_a_stable_sort_with_ties_to_the_lower_position()
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
    public void Top_k_keeps_differences_below_float_precision()
    {
        double[] scores = [0.5, 0.5 + 1e-12, 0.5 - 1e-12];
        int[] dest = new int[3];
        Assert.Equal(3, Scoring.TopK(scores, 3, dest));
        Assert.Equal([1, 0, 2], dest);
    }

    [Fact]
    public void Threshold_selects_at_or_above_in_float64_and_at_least_the_best()
    {
        int[] dest = new int[4];
        double[] scores = [0.2, 0.9, double.NegativeInfinity, 0.9 - 1e-12];
        Assert.Equal(1, Scoring.Threshold(scores, 0.9, dest));
        Assert.Equal(1, dest[0]);
        double[] low = [0.2, 0.3, 0.3, double.NegativeInfinity];
        Assert.Equal(1, Scoring.Threshold(low, 0.9, dest));
        Assert.Equal(1, dest[0]); // the best, ties to the lower position
        Assert.Equal(0, Scoring.Threshold([double.NegativeInfinity], 0.5, dest));
    }

    [Fact]
    public void Probability_of_a_token_is_the_float64_softmax_with_both_bans()
    {
        float[] row = [1f, 2f, 3f, 0.5f];
        double z = Math.Exp(1 - 2.0) + Math.Exp(0) + Math.Exp(0.5 - 2.0); // id 2 banned: max 2
        Assert.Equal(Math.Exp(1 - 2.0) / z, Scoring.ProbabilityOf(row, 0, [2], []), 15);
        Assert.Equal(0.0, Scoring.ProbabilityOf(row, 2, [], [2]));
        Assert.Equal(0.0, Scoring.ProbabilityOf(row, 3, [3], []));
        float[] withInf = [float.NegativeInfinity, 0f];
        Assert.Equal(0.0, Scoring.ProbabilityOf(withInf, 0, [], []));
        Assert.Equal(1.0, Scoring.ProbabilityOf(withInf, 1, [], []));
    }

    [Fact]
    public void Confidence_matches_a_float64_reference_on_random_rows()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 200; trial++)
        {
            int n = rng.Next(1, 300);
            float[] row = new float[n];
            for (int i = 0; i < n; i++)
            {
                row[i] = (float)((rng.NextDouble() - 0.5) * 30);
            }
            int[] banA = n > 3 ? [rng.Next(n)] : [];
            int[] banB = n > 3 ? [rng.Next(n), rng.Next(n)] : [];
            int x0 = Scoring.ArgmaxConfidence(row, banA, banB, out double conf);

            int expectX0 = -1;
            for (int i = 0; i < n; i++)
            {
                if (!banA.Contains(i) && (expectX0 < 0 || row[i] > row[expectX0]))
                {
                    expectX0 = i;
                }
            }
            Assert.Equal(expectX0, x0);
            double m = double.NegativeInfinity;
            for (int i = 0; i < n; i++)
            {
                if (!banA.Contains(i) && !banB.Contains(i))
                {
                    m = Math.Max(m, row[i]);
                }
            }
            double sum = 0;
            for (int i = 0; i < n; i++)
            {
                if (!banA.Contains(i) && !banB.Contains(i))
                {
                    sum += Math.Exp(row[i] - m);
                }
            }
            double expected = banB.Contains(x0) ? 0 : Math.Exp(row[x0] - m) / sum;
            Assert.True(Math.Abs(expected - conf) <= 1e-14 * Math.Max(1, expected), $"{conf} vs {expected}");
        }
    }

    [Theory]
    [InlineData(593, 1.0)]
    [InlineData(593, 12.0)]
    [InlineData(4096, 6.0)]
    [InlineData(126_464, 4.0)]
    public void Fast_kernel_confidence_stays_within_the_refinement_bound(int vocab, double spread)
    {
        // The decoders trust the float32 kernel to within ApproximationError and refine only near the cut.
        var rng = new Random(vocab);
        float[] row = new float[vocab];
        double worst = 0;
        for (int trial = 0; trial < (vocab > 10_000 ? 4 : 200); trial++)
        {
            for (int i = 0; i < vocab; i++)
            {
                row[i] = (float)(rng.NextDouble() * spread);
            }
            row[rng.Next(vocab)] += (float)(rng.NextDouble() * 20); // a peak: confidences near 1 too
            int x0 = MeDlm.Kernels.Confidence.ArgmaxProbability(row, [vocab - 5], [vocab - 7], out float fast);
            Assert.Equal(x0, Scoring.ArgmaxConfidence(row, [vocab - 5], [vocab - 7], out double exact));
            worst = Math.Max(worst, Math.Abs(fast - exact));
        }
        Assert.True(worst <= BatchDecoder.ApproximationError / 4, $"kernel error {worst:E2} vs bound {BatchDecoder.ApproximationError:E0}");
    }

    [Fact]
    public void Bans_follow_the_reference_per_algorithm()
    {
        var ids = new SpecialTokens(Mask: 9, Pad: 8, Delete: 7, End: 6, Eos: 8);
        RowPlan Plan(DecodingAlgorithm a, double temperature, bool eos, bool conf) =>
            new(0, new GenerationPlan([1], 4, 4, a, 4, 0, temperature, 0, 0.9, 0, eos, conf, 16, CancellationToken.None), ids);

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
