namespace MeDlm.Kernels;

/// <summary>Argmax of one row with banned ids.</summary>
public static class Argmax
{
    /// <summary>
    /// Index of the largest entry of <paramref name="row"/>, treating the ids in <paramref name="banned"/>
    /// as -inf. Ties go to the lowest index (-0 and +0 tie). If every non-banned entry is -inf the lowest
    /// non-banned index is returned; -1 only when no index is allowed (empty row or everything banned).
    /// Banned ids outside the row are ignored. One pass over the row; no allocation.
    /// </summary>
    public static int Index(ReadOnlySpan<float> row, ReadOnlySpan<int> banned)
    {
        Span<float> patch = stackalloc float[RowScan.BlockSize];
        float m = float.NegativeInfinity;
        int idx = -1;
        int n = row.Length;
        for (int start = 0; start < n; start += RowScan.BlockSize)
        {
            int len = Math.Min(RowScan.BlockSize, n - start);
            scoped ReadOnlySpan<float> block = row.Slice(start, len);
            if (RowScan.AnyIn(banned, default, start, len))
            {
                Span<float> p = patch[..len];
                block.CopyTo(p);
                RowScan.Ban(p, start, banned);
                block = p;
            }
            float bm = RowScan.Max(block);
            if (bm > m)
            {
                // Strictly greater: an equal maximum in a later block never displaces the earlier index.
                m = bm;
                idx = start + RowScan.IndexOfFirstEqual(block, bm);
            }
        }
        return idx >= 0 ? idx : RowScan.LowestAllowed(n, banned);
    }

    /// <summary><see cref="Index(ReadOnlySpan{float}, ReadOnlySpan{int})"/> with nothing banned.</summary>
    public static int Index(ReadOnlySpan<float> row) => Index(row, default);
}
