using MeDlm.Kernels;

namespace MeDlm.Tests;

public class ConfidenceTests
{
    [Fact]
    public void Probability_matches_reference()
    {
        foreach ((int it, Random r) in Gen.Runs(3001, 2000))
        {
            int n = Gen.Length(r);
            if (n == 0)
            {
                continue;
            }
            var l = Gen.Row(r, n);
            int t = r.Next(2) == 0 ? r.Next(n) : Reference.Argmax(l, []);
            float p = Confidence.Probability(l, t);
            Assert.True(Gen.Close(p, Reference.Softmax(l)[t]), $"it {it}: {p} vs {Reference.Softmax(l)[t]}");
        }
    }

    [Fact]
    public void Margin_and_entropy_match_reference()
    {
        foreach ((int it, Random r) in Gen.Runs(3002, 1500))
        {
            var l = Gen.Row(r, Gen.Length(r));
            float margin = Confidence.Margin(l);
            float ent = Confidence.NegativeEntropy(l);
            Assert.False(float.IsNaN(margin) || float.IsNaN(ent));
            Assert.True(Gen.Close(margin, Reference.Margin(l), 1e-5), $"it {it}: margin {margin} vs {Reference.Margin(l)}");
            Assert.True(Gen.Close(ent, Reference.NegativeEntropy(l), 1e-4, 1e-4), $"it {it}: entropy {ent} vs {Reference.NegativeEntropy(l)}");
        }
    }

    [Fact]
    public void Stage1_fused_kernel_matches_the_literal_rule()
    {
        foreach ((int it, Random r) in Gen.Runs(3003, 3000))
        {
            var (n, l, a) = Gen.BannedRow(r);
            var p = Gen.Banned(r, n);
            if (n > 0 && r.Next(4) == 0)
            {
                // Make a banned-from-normaliser id (PAD) the winner now and then.
                int pad = r.Next(n);
                p = [pad];
                l[pad] = 100f;
            }
            var (id, conf) = Reference.Stage1(l, a, p);
            int got = Confidence.ArgmaxProbability(l, a, p, out float c);
            Assert.Equal(id, got);
            Assert.False(float.IsNaN(c));
            Assert.True(Gen.Close(c, conf), $"it {it}: conf {c} vs {conf}");
            if (got >= 0 && p.Contains(got) && !a.Contains(got))
            {
                Assert.Equal(0f, c); // x0 == PAD gives confidence exactly 0
            }
        }
    }

    [Fact]
    public void Stage1_pad_winner_has_zero_confidence_and_del_is_never_chosen()
    {
        const int del = 5, pad = 3;
        float[] l = [0, 1, 2, 9, 1, 50];
        int x0 = Confidence.ArgmaxProbability(l, [del], [pad], out float c);
        Assert.Equal(pad, x0);
        Assert.Equal(0f, c);

        l[pad] = -1;
        x0 = Confidence.ArgmaxProbability(l, [del], [pad], out c);
        Assert.Equal(2, x0);
        // softmax over {0,1,2,4} only (DEL and PAD out of the normaliser)
        double z = Math.Exp(0) + Math.Exp(1) + Math.Exp(2) + Math.Exp(1);
        Assert.Equal(Math.Exp(2) / z, c, 1e-6);
    }

    [Fact]
    public void Stage1_large_logits_and_empty_rows()
    {
        float[] l = [1e4f, 1e4f + 2, 1e4f - 3, -1e4f];
        int x0 = Confidence.ArgmaxProbability(l, [], [], out float c);
        Assert.Equal(1, x0);
        Assert.Equal(Reference.Stage1(l, [], []).Conf, c, 1e-6);
        Assert.Equal(-1, Confidence.ArgmaxProbability([], [], [], out c));
        Assert.Equal(0f, c);
        float ninf = float.NegativeInfinity;
        Assert.Equal(1, Confidence.ArgmaxProbability([ninf, ninf], [0], [], out c));
        Assert.Equal(0f, c);
    }

    [Fact]
    public void Exact_probability_matches_the_float64_reference_with_both_bans()
    {
        foreach ((int it, Random r) in Gen.Runs(3011, 1500))
        {
            int n = Gen.Length(r);
            var l = Gen.Row(r, n);
            int[] banA = n > 0 && r.Next(3) > 0 ? [r.Next(n)] : [];
            int[] banB = n > 0 && r.Next(3) > 0 ? [r.Next(n), r.Next(n + 5)] : [];
            int t = n == 0 ? 0 : r.Next(3) == 0 ? r.Next(n) : Reference.Argmax(l, banA);
            double p = Confidence.ExactProbability(l, t, banA, banB);
            double expected = n == 0 || t < 0 ? 0 : Reference.ExactProbability(l, t, banA, banB);
            Assert.True(Math.Abs(p - expected) <= 1e-13 * Math.Max(1, expected), $"it {it}: {p} vs {expected}");
        }
    }

    [Fact]
    public void Exact_probability_edge_cases()
    {
        float[] row = [1f, 2f, 3f, 0.5f];
        double z = Math.Exp(1 - 2.0) + Math.Exp(0) + Math.Exp(0.5 - 2.0); // id 2 banned: max 2
        Assert.Equal(Math.Exp(1 - 2.0) / z, Confidence.ExactProbability(row, 0, [2], []), 15);
        Assert.Equal(0.0, Confidence.ExactProbability(row, 2, [], [2]));
        Assert.Equal(0.0, Confidence.ExactProbability(row, 3, [3], []));
        Assert.Equal(0.0, Confidence.ExactProbability(row, 4, [], []));
        Assert.Equal(0.0, Confidence.ExactProbability([], 0, [], []));
        Assert.Equal(1.0, Confidence.ExactProbability([7f], 0, [], []));
        Assert.Equal(0.0, Confidence.ExactProbability([float.NegativeInfinity, 0f], 0, [], []));
        Assert.Equal(1.0, Confidence.ExactProbability([float.NegativeInfinity, 0f], 1, [], []));
        Assert.Equal(0.5, Confidence.ExactProbability([float.PositiveInfinity, 1f, float.PositiveInfinity], 2, [], []));
        Assert.Equal(0.5, Confidence.ExactProbability([1e4f, 1e4f, -1e4f], 0, [], [5]));
    }

    [Theory]
    [InlineData(593, 1.0)]
    [InlineData(593, 12.0)]
    [InlineData(4096, 6.0)]
    [InlineData(126_464, 4.0)]
    public void Fast_kernel_confidence_stays_within_the_refinement_bound(int vocab, double spread)
    {
        // The decoders trust the float32 kernel to within ArgmaxProbabilityError and refine only near the cut.
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
            int x0 = Confidence.ArgmaxProbability(row, [vocab - 5], [vocab - 7], out float fast);
            Assert.Equal(Argmax.Index(row, [vocab - 5]), x0);
            double exact = Confidence.ExactProbability(row, x0, [vocab - 5], [vocab - 7]);
            worst = Math.Max(worst, Math.Abs(fast - exact));
        }
        Assert.True(worst <= Confidence.ArgmaxProbabilityError / 4,
            $"kernel error {worst:E2} vs bound {Confidence.ArgmaxProbabilityError:E0}");
    }
}
