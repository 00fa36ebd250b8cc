using System.Runtime.InteropServices;

namespace MeDlm.Kernels;

/// <summary>What one edit round did to one sequence.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EditCounts : IEquatable<EditCounts>
{
    /// <summary>Kept response positions whose token changed (cur != x, cur != DEL).</summary>
    public int Replaced;

    /// <summary>Response positions removed because cur == DEL.</summary>
    public int Deleted;

    /// <summary>Insertions applied.</summary>
    public int Inserted;

    /// <summary>Insertions proposed but dropped by the length cap.</summary>
    public int InsertionsDropped;

    /// <summary>True when cur == x and nxt == x everywhere: the sequence is at a fixed point (nothing changed).</summary>
    public bool FixedPoint;

    /// <inheritdoc/>
    public readonly bool Equals(EditCounts other) =>
        Replaced == other.Replaced && Deleted == other.Deleted && Inserted == other.Inserted &&
        InsertionsDropped == other.InsertionsDropped && FixedPoint == other.FixedPoint;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is EditCounts o && Equals(o);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Replaced, Deleted, Inserted, InsertionsDropped, FixedPoint);

    /// <inheritdoc/>
    public override readonly string ToString() =>
        $"replaced {Replaced}, deleted {Deleted}, inserted {Inserted}, dropped {InsertionsDropped}, fixed point {FixedPoint}";

    /// <summary>Equality.</summary>
    public static bool operator ==(EditCounts left, EditCounts right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(EditCounts left, EditCounts right) => !left.Equals(right);
}

/// <summary>
/// ME-DLM stage 2: applies one edit round's proposals (docs/DESIGN.md §2.3, mirroring the reference test.py; differences in §8).
/// </summary>
/// <remarks>
/// <para>Token buffers are <c>long</c>, like the ONNX <c>input_ids</c>; the head outputs (argmax ids)
/// are <c>int</c>. For a row x of length len with prompt length P, per position i:</para>
/// <list type="number">
/// <item>Prompt positions i &lt; P use cur[i] = nxt[i] = x[i] whatever the inputs hold; they are never
/// deleted or preceded by an insertion, so the prompt is copied unchanged and keeps length P. (The
/// reference would also delete a prompt token equal to DEL; a prompt never holds that special token.)</item>
/// <item>Fixed point iff cur[i] == x[i] and nxt[i] == x[i] for every i &lt; len; the output then equals x.</item>
/// <item>Every response position with cur[i] == DEL is removed together with its nxt[i] (an insertion
/// proposed in front of a deleted token is lost).</item>
/// <item>For each remaining position in order: nxt[i] is emitted first when nxt[i] != cur[i] (one
/// insertion), then cur[i]. nxt[i] is the argmax of the next-token head at i - 1, already shifted.</item>
/// <item>Length cap: insertions allowed = cap - kept; when more are proposed the earliest are kept and the
/// later dropped (no insertion when cap &lt;= kept; kept tokens are never truncated).</item>
/// </list>
/// <para>Output slots past a row's new length are left untouched.</para>
/// </remarks>
public static class Edits
{
    /// <summary>
    /// The confidence gate of an edit round (docs/DESIGN.md §2.3), applied to the heads' proposals before
    /// <see cref="Apply"/>, for each response position i (prompt positions are left alone; Apply ignores them):
    /// the insertion proposed before i (nxt[i] != cur[i]) stands only where <paramref name="nxtProbability"/>[i]
    /// &gt;= <paramref name="threshold"/>; the replacement or deletion (cur[i] != x[i]) only where
    /// <paramref name="curProbability"/>[i] &gt;= threshold, else cur[i] = x[i]; a withdrawn insertion sets
    /// nxt[i] = cur[i]. With threshold 0 nothing changes; a round whose gated proposals change nothing is a
    /// fixed point of <see cref="Apply"/>.
    /// </summary>
    public static void Gate(ReadOnlySpan<long> tokens, int promptLength, Span<int> cur, Span<int> nxt,
        ReadOnlySpan<double> curProbability, ReadOnlySpan<double> nxtProbability, double threshold)
    {
        int len = tokens.Length;
        if ((uint)promptLength > (uint)len)
        {
            throw new ArgumentOutOfRangeException(nameof(promptLength), "The prompt length must lie in [0, row length].");
        }
        if (cur.Length < len || nxt.Length < len || curProbability.Length < len || nxtProbability.Length < len)
        {
            throw new ArgumentException("cur, nxt and their probabilities must cover the row.");
        }
        for (int i = promptLength; i < len; i++)
        {
            bool insert = nxt[i] != cur[i] && nxtProbability[i] >= threshold;
            if (curProbability[i] < threshold)
            {
                cur[i] = (int)tokens[i];
            }
            if (!insert)
            {
                nxt[i] = cur[i];
            }
        }
    }

    /// <summary>
    /// One edit round for one row: <paramref name="tokens"/> is the row x (its length is the row length),
    /// <paramref name="cur"/> and <paramref name="nxt"/> hold at least tokens.Length ids.
    /// The effective cap is min(<paramref name="maxLength"/>, dest.Length); dest must hold tokens.Length.
    /// </summary>
    /// <returns>The new length of the row (written to dest[0..length)).</returns>
    public static int Apply(ReadOnlySpan<long> tokens, int promptLength, ReadOnlySpan<int> cur, ReadOnlySpan<int> nxt,
        int delId, int maxLength, Span<long> dest, out EditCounts counts)
    {
        int len = tokens.Length;
        if ((uint)promptLength > (uint)len)
        {
            throw new ArgumentOutOfRangeException(nameof(promptLength), "The prompt length must lie in [0, row length].");
        }
        if (cur.Length < len || nxt.Length < len)
        {
            throw new ArgumentException("cur and nxt must cover the row.");
        }
        if (dest.Length < len)
        {
            throw new ArgumentException("dest must hold at least the row length.", nameof(dest));
        }
        int cap = Math.Min(maxLength, dest.Length);
        ReadOnlySpan<long> resp = tokens[promptLength..];
        ReadOnlySpan<int> curR = cur[promptLength..len];
        ReadOnlySpan<int> nxtR = nxt[promptLength..len];
        int respLen = resp.Length;

        // Insertions allowed depend on the kept count: count DEL first (vectorised) unless the cap cannot bind
        // (each kept response position adds at most one insertion).
        int allowed;
        if ((long)len + respLen <= cap)
        {
            allowed = int.MaxValue;
        }
        else
        {
            int kept = len - curR.Count(delId);
            allowed = Math.Max(0, cap - kept);
        }

        tokens[..promptLength].CopyTo(dest);
        int o = promptLength;
        int replaced = 0, deleted = 0, inserted = 0, dropped = 0;
        bool fixedPoint = true;
        for (int i = 0; i < respLen; i++)
        {
            long x = resp[i];
            int c = curR[i];
            int nx = nxtR[i];
            if (c != x || nx != x)
            {
                fixedPoint = false;
            }
            if (c == delId)
            {
                deleted++;
                continue;
            }
            if (nx != c)
            {
                if (inserted < allowed)
                {
                    dest[o++] = nx;
                    inserted++;
                }
                else
                {
                    dropped++;
                }
            }
            dest[o++] = c;
            if (c != x)
            {
                replaced++;
            }
        }
        counts = new EditCounts
        {
            Replaced = replaced,
            Deleted = deleted,
            Inserted = inserted,
            InsertionsDropped = dropped,
            FixedPoint = fixedPoint,
        };
        return o;
    }
}
