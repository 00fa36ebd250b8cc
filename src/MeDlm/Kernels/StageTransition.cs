namespace MeDlm.Kernels;

/// <summary>The transform between stage 1 (mask steps) and stage 2 (edit rounds), docs/DESIGN.md §2.2.</summary>
public static class StageTransition
{
    /// <summary>
    /// In place on one row of length <paramref name="length"/>: removes every <paramref name="padId"/> token at
    /// positions &gt;= <paramref name="promptLength"/> (the prompt is untouched), compacts the response, and, if
    /// <paramref name="editRoundsFollow"/>, overwrites the last token of the response with
    /// <paramref name="endId"/>. When the response is empty after dropping, nothing is overwritten (the
    /// reference would overwrite the last prompt token; we never change the prompt). Slots past the new
    /// length are left as they were.
    /// </summary>
    /// <returns>The new length.</returns>
    public static int DropPadAndTerminate(Span<long> row, int length, int promptLength, long padId, long endId,
        bool editRoundsFollow)
    {
        if ((uint)length > (uint)row.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        if ((uint)promptLength > (uint)length)
        {
            throw new ArgumentOutOfRangeException(nameof(promptLength));
        }
        Span<long> resp = row[promptLength..length];
        // Skip the leading run without PAD (usually most of the response) before compacting.
        int o = resp.IndexOf(padId);
        if (o < 0)
        {
            o = resp.Length;
        }
        for (int i = o + 1; i < resp.Length; i++)
        {
            long t = resp[i];
            if (t != padId)
            {
                resp[o++] = t;
            }
        }
        if (editRoundsFollow && o > 0)
        {
            resp[o - 1] = endId;
        }
        return promptLength + o;
    }
}
