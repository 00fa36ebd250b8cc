using MeDlm.Kernels;

namespace MeDlm.Tests;

public class EditsTests
{
    private const int Del = 999;

    // A tiny word vocabulary for readable hand-made cases.
    private static readonly string[] Words =
        ["<p>", "def", "f", "(", "xs", ")", ":", "NL", "for", "x", "in", "total", "+=", "=", "0", "return", "END", "2", "+", "4", "5", "junk"];

    private static long[] T(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Select(w => w == "DEL" ? (long)Del : Array.IndexOf(Words, w)).Select(v => v < 0 ? throw new ArgumentException(s) : v).ToArray();

    private static int[] I(string s) => T(s).Select(v => (int)v).ToArray();

    private static string S(ReadOnlySpan<long> ids)
    {
        var parts = new List<string>();
        foreach (long v in ids)
        {
            parts.Add(v == Del ? "DEL" : Words[v]);
        }
        return string.Join(' ', parts);
    }

    private static (string Text, EditCounts Counts) Round(string x, int prompt, string cur, string nxt, int cap = 1000)
    {
        var tokens = T(x);
        var dest = new long[Math.Max(tokens.Length * 2, 1)];
        int n = Edits.Apply(tokens, prompt, I(cur), I(nxt), Del, cap, dest, out var counts);
        var (refOut, refCounts) = Reference.Edit(tokens, prompt, I(cur), I(nxt), Del, Math.Min(cap, dest.Length));
        Assert.Equal(S(refOut), S(dest.AsSpan(0, n)));
        Assert.Equal(refCounts, counts);
        return (S(dest.AsSpan(0, n)), counts);
    }

    [Fact]
    public void A_missing_total_equals_zero_line_is_inserted_over_rounds()
    {
        string x = "<p> <p> def f ( xs ) : NL for x in xs : total += x NL return total END";
        // Each round the next-token head at ": NL" proposes the next missing token before "for".
        string[] proposals = ["total", "=", "0", "NL"];
        foreach (string w in proposals)
        {
            var words = x.Split(' ');
            int forAt = Array.IndexOf(words, "for");
            var nxt = (string[])words.Clone();
            nxt[forAt] = w;
            var (text, counts) = Round(x, 2, x, string.Join(' ', nxt));
            Assert.Equal(1, counts.Inserted);
            Assert.False(counts.FixedPoint);
            x = text;
        }
        Assert.Equal("<p> <p> def f ( xs ) : NL total = 0 NL for x in xs : total += x NL return total END", x);
        var (same, fixedCounts) = Round(x, 2, x, x);
        Assert.Equal(x, same);
        Assert.True(fixedCounts.FixedPoint);
        Assert.Equal(default(EditCounts) with { FixedPoint = true }, fixedCounts);
    }

    [Fact]
    public void A_stray_token_is_deleted_and_a_wrong_token_replaced()
    {
        var (text, c) = Round("<p> 2 + 2 = 5 junk END", 1, "<p> 2 + 2 = 4 DEL END", "<p> 2 + 2 = 4 junk END");
        Assert.Equal("<p> 2 + 2 = 4 END", text);
        Assert.Equal(new EditCounts { Replaced = 1, Deleted = 1 }, c);
    }

    [Fact]
    public void An_insertion_in_front_of_a_deleted_token_is_lost()
    {
        // nxt at the deleted position proposes "total" before it; it goes with the deletion.
        var (text, c) = Round("<p> x junk NL", 1, "<p> x DEL NL", "<p> x total NL");
        Assert.Equal("<p> x NL", text);
        Assert.Equal(new EditCounts { Deleted = 1 }, c);
    }

    [Fact]
    public void The_cap_keeps_the_earliest_insertions_and_never_truncates()
    {
        string x = "<p> x x x x";
        string nxt = "<p> 0 0 0 0"; // four insertions proposed
        var (text, c) = Round(x, 1, x, nxt, cap: 7);
        Assert.Equal("<p> 0 x 0 x x x", text);
        Assert.Equal(2, c.Inserted);
        Assert.Equal(2, c.InsertionsDropped);

        (text, c) = Round(x, 1, x, nxt, cap: 3); // cap below the kept length: no insertion, nothing cut
        Assert.Equal(x, text);
        Assert.Equal(0, c.Inserted);
        Assert.Equal(4, c.InsertionsDropped);

        (text, _) = Round(x, 1, "<p> x DEL DEL x", nxt, cap: 4); // 3 kept: room for one insertion
        Assert.Equal("<p> 0 x x", text);
        (text, _) = Round(x, 1, "<p> x DEL DEL x", nxt, cap: 5); // deletions free room for insertions
        Assert.Equal("<p> 0 x 0 x", text);
    }

    [Fact]
    public void Prompt_positions_never_change_whatever_the_heads_say()
    {
        var (text, c) = Round("def f ( xs ) : NL x", 7, "DEL DEL 5 5 DEL junk junk x", "junk 0 0 0 0 0 0 x");
        Assert.Equal("def f ( xs ) : NL x", text);
        Assert.True(c.FixedPoint);
        // The first response position can still receive an insertion (from the head at the last prompt token).
        (text, _) = Round("def f ( xs ) : NL x", 7, "DEL DEL 5 5 DEL junk junk x", "junk 0 0 0 0 0 0 total");
        Assert.Equal("def f ( xs ) : NL total x", text);
    }

    [Fact]
    public void Random_rows_match_reference()
    {
        foreach (var (_, r) in Gen.Runs(7001, 3000))
        {
            var (len, prompt, x, cur, nxt) = RandomCase(r);
            int cap = r.Next(3) == 0 ? 1000 : r.Next(0, 2 * len + 2);
            var dest = new long[Math.Max(1, 2 * len)];
            Array.Fill(dest, -7);
            int n = Edits.Apply(x, prompt, cur, nxt, Del, cap, dest, out var counts);
            var (expected, expectedCounts) = Reference.Edit(x, prompt, cur, nxt, Del, Math.Min(cap, dest.Length));
            Assert.Equal(expected, dest[..n]);
            Assert.Equal(expectedCounts, counts);
            Assert.Equal(x[..prompt], dest[..prompt]);
            Assert.All(dest[n..], v => Assert.Equal(-7, v)); // slots past the length untouched
        }
    }

    [Fact]
    public void Heads_past_the_row_length_are_ignored()
    {
        // The decoder passes head buffers sized to the row capacity: entries past the row are stale.
        foreach (var (_, r) in Gen.Runs(7002, 500))
        {
            var (len, prompt, x, cur, nxt) = RandomCase(r);
            int extra = r.Next(1, 20);
            int[] longCur = [.. cur, .. Enumerable.Repeat(Del, extra)];
            int[] longNxt = [.. nxt, .. Enumerable.Range(0, extra)];
            var dest = new long[Math.Max(1, 2 * len)];
            int n = Edits.Apply(x, prompt, longCur, longNxt, Del, 1000, dest, out var counts);
            var (expected, expectedCounts) = Reference.Edit(x, prompt, cur, nxt, Del, dest.Length);
            Assert.Equal(expected, dest[..n]);
            Assert.Equal(expectedCounts, counts);
        }
    }

    [Fact]
    public void The_gate_keeps_confident_proposals_and_withdraws_the_others()
    {
        long[] x = T("<p> 2 + 2 = 5 junk END");
        int[] cur = I("<p> 2 + 2 = 4 DEL END");
        int[] nxt = I("<p> 2 + 2 = 4 junk 0");
        double[] pCur = [1, 1, 1, 1, 1, 0.95, 0.4, 1];
        double[] pNxt = [1, 1, 1, 1, 1, 0.2, 1, 0.99];
        Edits.Gate(x, 1, cur, nxt, pCur, pNxt, 0.9);
        var dest = new long[16];
        int n = Edits.Apply(x, 1, cur, nxt, Del, 1000, dest, out var counts);
        // The confident replacement 5 -> 4 and the confident insertion of 0 before END stand; the weak deletion goes.
        Assert.Equal("<p> 2 + 2 = 4 junk 0 END", S(dest.AsSpan(0, n)));
        Assert.Equal(1, counts.Replaced);
        Assert.Equal(0, counts.Deleted);
        Assert.Equal(1, counts.Inserted);
    }

    [Fact]
    public void Random_gated_rows_match_reference()
    {
        foreach (var (_, r) in Gen.Runs(7003, 3000))
        {
            var (len, prompt, x, cur, nxt) = RandomCase(r);
            double[] pCur = RandomProbabilities(r, len);
            double[] pNxt = RandomProbabilities(r, len);
            double threshold = r.Next(4) switch { 0 => 0, 1 => 1, _ => r.NextDouble() };
            var (refCur, refNxt) = Reference.Gate(x, prompt, cur, nxt, pCur, pNxt, threshold);
            int[] gCur = [.. cur];
            int[] gNxt = [.. nxt];
            Edits.Gate(x, prompt, gCur, gNxt, pCur, pNxt, threshold);
            Assert.Equal(refCur, gCur);
            Assert.Equal(refNxt, gNxt);
            Assert.Equal(cur[..prompt], gCur[..prompt]); // prompt positions untouched
            if (threshold == 0)
            {
                Assert.Equal(cur, gCur);
                Assert.Equal(nxt, gNxt);
            }

            var dest = new long[Math.Max(1, 2 * len)];
            int n = Edits.Apply(x, prompt, gCur, gNxt, Del, 1000, dest, out var counts);
            var (expected, expectedCounts) = Reference.Edit(x, prompt, refCur, refNxt, Del, dest.Length);
            Assert.Equal(expected, dest[..n]);
            Assert.Equal(expectedCounts, counts);
            // A round with no confident proposal is a fixed point, and a fixed point leaves the row unchanged.
            bool anyConfidentEdit = false;
            for (int i = prompt; i < len; i++)
            {
                anyConfidentEdit |= (cur[i] != x[i] && pCur[i] >= threshold) || (nxt[i] != cur[i] && pNxt[i] >= threshold);
            }
            Assert.True(anyConfidentEdit || counts.FixedPoint);
            if (counts.FixedPoint)
            {
                Assert.Equal(x, dest[..n]);
            }
        }
    }

    [Fact]
    public void A_gate_above_every_probability_gives_a_fixed_point()
    {
        foreach (var (_, r) in Gen.Runs(7004, 500))
        {
            var (len, prompt, x, cur, nxt) = RandomCase(r, maxLength: 40);
            Edits.Gate(x, prompt, cur, nxt, RandomProbabilities(r, len), RandomProbabilities(r, len), 1.5);
            var dest = new long[Math.Max(1, 2 * len)];
            int n = Edits.Apply(x, prompt, cur, nxt, Del, 1000, dest, out var counts);
            Assert.True(counts.FixedPoint);
            Assert.Equal(x, dest[..n]);
        }
    }

    private static double[] RandomProbabilities(Random r, int len)
    {
        var p = new double[len];
        for (int i = 0; i < len; i++)
        {
            p[i] = r.Next(5) == 0 ? 1.0 : r.NextDouble();
        }
        return p;
    }

    /// <summary>
    /// A random row: a length below <paramref name="maxLength"/>, a prompt length within it, then its tokens and
    /// heads (<see cref="RandomRow"/>), drawn in that order.
    /// </summary>
    private static (int Len, int Prompt, long[] X, int[] Cur, int[] Nxt) RandomCase(Random r, int maxLength = 60)
    {
        int len = r.Next(0, maxLength);
        int prompt = r.Next(0, len + 1);
        var (x, cur, nxt) = RandomRow(r, len);
        return (len, prompt, x, cur, nxt);
    }

    private static (long[] X, int[] Cur, int[] Nxt) RandomRow(Random r, int len)
    {
        // Small alphabet so that "unchanged" is common and fixed points occur.
        var x = new long[len];
        var cur = new int[len];
        var nxt = new int[len];
        bool quiet = r.Next(4) == 0;
        for (int i = 0; i < len; i++)
        {
            x[i] = r.Next(6);
            int roll = r.Next(10);
            cur[i] = quiet || roll < 6 ? (int)x[i] : roll < 8 ? Del : r.Next(6);
            int roll2 = r.Next(10);
            nxt[i] = quiet || roll2 < 6 ? (int)x[i] : roll2 < 7 ? Del : r.Next(6);
        }
        return (x, cur, nxt);
    }
}
