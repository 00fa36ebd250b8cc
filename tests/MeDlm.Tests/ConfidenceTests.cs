using MeDlm.Kernels;

namespace MeDlm.Tests;

public class ConfidenceTests
{
    [Fact]
    public void Probability_matches_reference()
    {
        var r = new Random(3001);
        for (int it = 0; it < 2000; it++)
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
        var r = new Random(3002);
        for (int it = 0; it < 1500; it++)
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
        var r = new Random(3003);
        for (int it = 0; it < 3000; it++)
        {
            int n = Gen.Length(r);
            var l = Gen.Row(r, n);
            var a = Gen.Banned(r, n);
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
    public void Rows_and_parallel_rows_equal_per_row_calls()
    {
        var r = new Random(3004);
        foreach (int vocab in new[] { 1, 9, 1000, 2500 })
        {
            int rows = 37;
            var logits = new float[rows * vocab];
            for (int k = 0; k < rows; k++)
            {
                Gen.Row(r, vocab).CopyTo(logits, k * vocab);
            }
            int[] a = [vocab - 1], p = [0];
            var ids = new int[rows];
            var conf = new float[rows];
            var pids = new int[rows];
            var pconf = new float[rows];
            Confidence.ArgmaxProbabilityRows(logits, vocab, a, p, ids, conf);
            Confidence.ArgmaxProbabilityRowsParallel(logits, vocab, a, p, pids, pconf, 2);
            for (int k = 0; k < rows; k++)
            {
                int id = Confidence.ArgmaxProbability(logits.AsSpan(k * vocab, vocab), a, p, out float c);
                Assert.Equal(id, ids[k]);
                Assert.Equal(c, conf[k]);
                Assert.Equal(id, pids[k]);
                Assert.Equal(c, pconf[k]);
            }
        }
    }

    [Fact]
    public void Rows_reject_short_buffers()
    {
        Assert.Throws<ArgumentException>(() => Confidence.ArgmaxProbabilityRows(new float[10], 4, [], [], new int[3], new float[3]));
        Assert.Throws<ArgumentException>(() => Confidence.ArgmaxProbabilityRows(new float[12], 4, [], [], new int[3], new float[2]));
    }
}
