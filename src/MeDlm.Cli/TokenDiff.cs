namespace MeDlm.Cli;

/// <summary>What one step of a token alignment does.</summary>
internal enum DiffKind
{
    /// <summary>The token is in both sequences.</summary>
    Equal,

    /// <summary>A token of the first sequence became another token.</summary>
    Replace,

    /// <summary>A token of the first sequence is gone.</summary>
    Delete,

    /// <summary>A token appears that the first sequence did not have.</summary>
    Insert,
}

/// <summary>One aligned step: <see cref="Old"/> is -1 for an insertion, <see cref="New"/> -1 for a deletion.</summary>
internal readonly record struct DiffOp(DiffKind Kind, int Old, int New);

/// <summary>
/// Token-level Levenshtein alignment of the stage-1 draft and the refined answer, so that --show-edits
/// shows exactly which tokens the edit rounds changed (unit costs, as the edit labels of training).
/// </summary>
internal static class TokenDiff
{
    public static List<DiffOp> Align(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int n = a.Count;
        int m = b.Count;
        // d[i, j]: edits to turn a[..i] into b[..j]; sequences here are at most a few thousand tokens.
        int w = m + 1;
        int[] d = new int[(n + 1) * w];
        for (int j = 0; j <= m; j++)
        {
            d[j] = j;
        }
        for (int i = 1; i <= n; i++)
        {
            d[i * w] = i;
            for (int j = 1; j <= m; j++)
            {
                int sub = d[((i - 1) * w) + j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                int del = d[((i - 1) * w) + j] + 1;
                int ins = d[(i * w) + j - 1] + 1;
                d[(i * w) + j] = Math.Min(sub, Math.Min(del, ins));
            }
        }
        var ops = new List<DiffOp>(Math.Max(n, m));
        int x = n;
        int y = m;
        while (x > 0 || y > 0)
        {
            int here = d[(x * w) + y];
            // Prefer a match or substitution, then a deletion, then an insertion: the walk runs backwards,
            // so this keeps insertions after deletions in reading order.
            if (x > 0 && y > 0 && here == d[((x - 1) * w) + y - 1] + (a[x - 1] == b[y - 1] ? 0 : 1))
            {
                ops.Add(a[x - 1] == b[y - 1] ? new DiffOp(DiffKind.Equal, a[x - 1], b[y - 1]) : new DiffOp(DiffKind.Replace, a[x - 1], b[y - 1]));
                x--;
                y--;
            }
            else if (x > 0 && here == d[((x - 1) * w) + y] + 1)
            {
                ops.Add(new DiffOp(DiffKind.Delete, a[x - 1], -1));
                x--;
            }
            else
            {
                ops.Add(new DiffOp(DiffKind.Insert, -1, b[y - 1]));
                y--;
            }
        }
        ops.Reverse();
        return ops;
    }

    /// <summary>Counts of replaced, deleted and inserted tokens in an alignment.</summary>
    public static (int Replaced, int Deleted, int Inserted) Count(List<DiffOp> ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        int r = 0, d = 0, i = 0;
        foreach (DiffOp op in ops)
        {
            switch (op.Kind)
            {
                case DiffKind.Replace:
                    r++;
                    break;
                case DiffKind.Delete:
                    d++;
                    break;
                case DiffKind.Insert:
                    i++;
                    break;
                default:
                    break;
            }
        }
        return (r, d, i);
    }
}
