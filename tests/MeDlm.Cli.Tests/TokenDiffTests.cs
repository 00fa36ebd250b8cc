namespace MeDlm.Cli.Tests;

public sealed class TokenDiffTests
{
    private static int[] Apply(List<DiffOp> ops, bool newSide)
    {
        var seq = new List<int>();
        foreach (DiffOp op in ops)
        {
            int id = newSide ? op.New : op.Old;
            if (id >= 0)
            {
                seq.Add(id);
            }
        }
        return [.. seq];
    }

    private static int Cost(List<DiffOp> ops)
    {
        (int r, int d, int i) = TokenDiff.Count(ops);
        return r + d + i;
    }

    /// <summary>Plain recursive Levenshtein distance (memoised), the reference for the alignment's cost.</summary>
    private static int Distance(int[] a, int[] b)
    {
        var memo = new Dictionary<(int, int), int>();
        int D(int i, int j)
        {
            if (i == 0)
            {
                return j;
            }
            if (j == 0)
            {
                return i;
            }
            if (memo.TryGetValue((i, j), out int v))
            {
                return v;
            }
            v = Math.Min(D(i - 1, j - 1) + (a[i - 1] == b[j - 1] ? 0 : 1), Math.Min(D(i - 1, j) + 1, D(i, j - 1) + 1));
            memo[(i, j)] = v;
            return v;
        }
        return D(a.Length, b.Length);
    }

    [Fact]
    public void Identical_sequences_align_as_all_equal()
    {
        List<DiffOp> ops = TokenDiff.Align([1, 2, 3], [1, 2, 3]);
        Assert.All(ops, op => Assert.Equal(DiffKind.Equal, op.Kind));
        Assert.Equal(3, ops.Count);
    }

    [Fact]
    public void A_replacement_a_deletion_and_an_insertion_are_found_where_they_are()
    {
        // A stray token in the middle, a wrong last token, a missing first token: one alignment is minimal.
        List<DiffOp> ops = TokenDiff.Align([2, 10, 7, 2, 11, 5], [9, 2, 10, 2, 11, 4]);
        Assert.Equal(
            [
                new DiffOp(DiffKind.Insert, -1, 9),
                new DiffOp(DiffKind.Equal, 2, 2),
                new DiffOp(DiffKind.Equal, 10, 10),
                new DiffOp(DiffKind.Delete, 7, -1),
                new DiffOp(DiffKind.Equal, 2, 2),
                new DiffOp(DiffKind.Equal, 11, 11),
                new DiffOp(DiffKind.Replace, 5, 4),
            ],
            ops);
    }

    [Fact]
    public void Empty_sides_are_all_insertions_or_all_deletions()
    {
        Assert.All(TokenDiff.Align([], [4, 5]), op => Assert.Equal(DiffKind.Insert, op.Kind));
        Assert.All(TokenDiff.Align([4, 5], []), op => Assert.Equal(DiffKind.Delete, op.Kind));
        Assert.Empty(TokenDiff.Align([], []));
    }

    [Fact]
    public void Random_pairs_rebuild_both_sides_at_the_minimal_cost()
    {
        var rng = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            int[] a = new int[rng.Next(0, 14)];
            int[] b = new int[rng.Next(0, 14)];
            for (int i = 0; i < a.Length; i++)
            {
                a[i] = rng.Next(0, 4);
            }
            for (int i = 0; i < b.Length; i++)
            {
                b[i] = rng.Next(0, 4);
            }
            List<DiffOp> ops = TokenDiff.Align(a, b);
            Assert.Equal(a, Apply(ops, newSide: false));
            Assert.Equal(b, Apply(ops, newSide: true));
            Assert.Equal(Distance(a, b), Cost(ops));
            foreach (DiffOp op in ops)
            {
                Assert.True(op.Kind != DiffKind.Equal || op.Old == op.New);
                Assert.True(op.Kind != DiffKind.Replace || op.Old != op.New);
            }
        }
    }
}
