namespace MeDlm.Tests;

/// <summary>
/// Plain, obviously-correct reference implementations (naive loops, full sorts, double precision).
/// They define what the kernels must compute; speed is irrelevant here.
/// </summary>
internal static class Reference
{
    public static double[] Softmax(float[] l)
    {
        var p = new double[l.Length];
        if (l.Length == 0)
        {
            return p;
        }
        double m = l.Max();
        if (double.IsNegativeInfinity(m))
        {
            return p; // no mass: zeros
        }
        if (double.IsPositiveInfinity(m))
        {
            int c = l.Count(float.IsPositiveInfinity);
            for (int i = 0; i < l.Length; i++)
            {
                p[i] = float.IsPositiveInfinity(l[i]) ? 1.0 / c : 0;
            }
            return p;
        }
        double z = 0;
        for (int i = 0; i < l.Length; i++)
        {
            z += Math.Exp(l[i] - m);
        }
        for (int i = 0; i < l.Length; i++)
        {
            p[i] = Math.Exp(l[i] - m) / z;
        }
        return p;
    }

    /// <summary>Argmax with banned ids; ties lowest; all -inf: lowest allowed; none allowed: -1.</summary>
    public static int Argmax(float[] l, int[] banned)
    {
        int best = -1;
        for (int i = 0; i < l.Length; i++)
        {
            if (banned.Contains(i) || float.IsNegativeInfinity(l[i]))
            {
                continue;
            }
            if (best < 0 || l[i] > l[best])
            {
                best = i;
            }
        }
        if (best >= 0)
        {
            return best;
        }
        for (int i = 0; i < l.Length; i++)
        {
            if (!banned.Contains(i))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>The ME-DLM stage-1 rule written out literally.</summary>
    public static (int Id, double Conf) Stage1(float[] row, int[] bannedFromArgmax, int[] bannedFromNormaliser)
    {
        var l = (float[])row.Clone();
        foreach (int a in bannedFromArgmax.Where(a => a >= 0 && a < l.Length))
        {
            l[a] = float.NegativeInfinity;
        }
        int x0 = Argmax(l, bannedFromArgmax);
        foreach (int p in bannedFromNormaliser.Where(p => p >= 0 && p < l.Length))
        {
            l[p] = float.NegativeInfinity;
        }
        if (x0 < 0)
        {
            return (x0, 0);
        }
        return (x0, Softmax(l)[x0]);
    }

    public static double Margin(float[] l)
    {
        var p = Softmax(l).OrderByDescending(v => v).ToArray();
        if (p.Length == 0)
        {
            return 0;
        }
        return p[0] - (p.Length > 1 ? p[1] : 0);
    }

    public static double NegativeEntropy(float[] l)
    {
        double s = 0;
        foreach (double p in Softmax(l))
        {
            if (p > 0)
            {
                s += p * Math.Log(p);
            }
        }
        return s;
    }

    /// <summary>Full sort by (score desc, position asc), skipping -inf and NaN.</summary>
    public static int[] TopK(double[] scores, int k)
    {
        return Enumerable.Range(0, scores.Length)
            .Where(i => scores[i] > double.NegativeInfinity)
            .OrderByDescending(i => scores[i]).ThenBy(i => i)
            .Take(Math.Max(0, k)).ToArray();
    }

    public static int[] Threshold(double[] scores, double tau)
    {
        var sel = Enumerable.Range(0, scores.Length).Where(i => scores[i] > double.NegativeInfinity && scores[i] >= tau).ToArray();
        if (sel.Length > 0)
        {
            return sel;
        }
        var best = TopK(scores, 1);
        return best;
    }

    /// <summary>softmax(row)[token] in float64 with both banned sets at -inf (0 when banned or -inf), literally.</summary>
    public static double ExactProbability(float[] row, int token, int[] bannedA, int[] bannedB)
    {
        bool Allowed(int i) => !bannedA.Contains(i) && !bannedB.Contains(i);
        if (!Allowed(token) || float.IsNegativeInfinity(row[token]))
        {
            return 0;
        }
        double m = double.NegativeInfinity;
        for (int i = 0; i < row.Length; i++)
        {
            if (Allowed(i))
            {
                m = Math.Max(m, row[i]);
            }
        }
        if (double.IsPositiveInfinity(m))
        {
            int inf = Enumerable.Range(0, row.Length).Count(i => Allowed(i) && float.IsPositiveInfinity(row[i]));
            return float.IsPositiveInfinity(row[token]) ? 1.0 / inf : 0;
        }
        double sum = 0;
        for (int i = 0; i < row.Length; i++)
        {
            if (Allowed(i))
            {
                sum += Math.Exp(row[i] - m);
            }
        }
        return Math.Exp(row[token] - m) / sum;
    }

    public static int[] BaseRemainder(int n, int steps)
    {
        var r = new int[steps];
        for (int s = 0; s < steps; s++)
        {
            r[s] = (n / steps) + (s < n % steps ? 1 : 0);
        }
        return r;
    }

    /// <summary>One ME-DLM edit round on one row, written like the reference test.py (masks and lists).</summary>
    public static (long[] Output, MeDlm.Kernels.EditCounts Counts) Edit(long[] x, int promptLength, int[] curIn, int[] nxtIn,
        int del, int cap)
    {
        int len = x.Length;
        var cur = curIn.Take(len).Select(v => (long)v).ToArray();
        var nxt = nxtIn.Take(len).Select(v => (long)v).ToArray();
        for (int i = 0; i < promptLength; i++)
        {
            cur[i] = x[i];
            nxt[i] = x[i];
        }
        bool fixedPoint = Enumerable.Range(0, len).All(i => cur[i] == x[i] && nxt[i] == x[i]);
        // DEL (never in the prompt)
        var keep = Enumerable.Range(0, len).Where(i => i < promptLength || cur[i] != del).ToList();
        int deleted = len - keep.Count;
        int replaced = keep.Count(i => i >= promptLength && cur[i] != x[i]);
        // INS with the cap: keep the earliest insertions
        var save = keep.Select(i => cur[i] != nxt[i]).ToArray();
        int allowed = Math.Max(0, cap - keep.Count);
        var idx = Enumerable.Range(0, save.Length).Where(j => save[j]).ToList();
        int dropped = 0;
        foreach (int j in idx.Skip(allowed))
        {
            save[j] = false;
            dropped++;
        }
        var outList = new List<long>();
        for (int j = 0; j < keep.Count; j++)
        {
            if (save[j])
            {
                outList.Add(nxt[keep[j]]);
            }
            outList.Add(cur[keep[j]]);
        }
        var counts = new MeDlm.Kernels.EditCounts
        {
            Replaced = replaced,
            Deleted = deleted,
            Inserted = idx.Count - dropped,
            InsertionsDropped = dropped,
            FixedPoint = fixedPoint,
        };
        return (outList.ToArray(), counts);
    }

    /// <summary>The confidence gate of an edit round as decoding.gate_edits writes it (a proposal stands only when confident).</summary>
    public static (int[] Cur, int[] Nxt) Gate(long[] x, int promptLength, int[] cur, int[] nxt, double[] pCur, double[] pNxt, double threshold)
    {
        int[] c = [.. cur];
        int[] n = [.. nxt];
        for (int i = promptLength; i < x.Length; i++)
        {
            bool insert = nxt[i] != cur[i] && pNxt[i] >= threshold;
            if (pCur[i] < threshold)
            {
                c[i] = (int)x[i];
            }
            if (!insert)
            {
                n[i] = c[i];
            }
        }
        return (c, n);
    }

    public static long[] DropPad(long[] row, int promptLength, long pad, long end, bool editRoundsFollow)
    {
        var resp = row.Skip(promptLength).Where(t => t != pad).ToArray();
        if (editRoundsFollow && resp.Length > 0)
        {
            resp[^1] = end;
        }
        return row.Take(promptLength).Concat(resp).ToArray();
    }

    /// <summary>Categorical sampling by the documented definition, with a full sort.</summary>
    public static int Categorical(float[] l, double t, int topK, double topP, double u, int[] banned)
    {
        int fallback = Argmax(l, banned);
        if (!(t > 0) || fallback < 0 || float.IsNegativeInfinity(l[fallback]))
        {
            return fallback;
        }
        double m = l[fallback];
        double W(int v) => float.IsNegativeInfinity(l[v]) || banned.Contains(v) ? 0 : Math.Exp((l[v] - m) * (1.0 / t));
        var allowed = Enumerable.Range(0, l.Length).Where(v => !float.IsNegativeInfinity(l[v]) && !banned.Contains(v)).ToList();
        double z = 0;
        for (int v = 0; v < l.Length; v++)
        {
            z += W(v);
        }
        var order = allowed.OrderByDescending(v => l[v]).ThenBy(v => v).ToList();
        var kept = new List<int>();
        double before = 0;
        for (int j = 0; j < order.Count; j++)
        {
            bool inK = !(topK > 0 && topK < l.Length) || j < topK;
            bool inP = !(topP < 1.0) || before <= topP * z;
            if (!inK || !inP)
            {
                break;
            }
            kept.Add(order[j]);
            before += W(order[j]);
        }
        if (!(topK > 0 && topK < l.Length) && !(topP < 1.0))
        {
            kept = Enumerable.Range(0, l.Length).ToList();
        }
        kept.Sort();
        double zk = kept.Sum(W);
        if (!(topK > 0 && topK < l.Length) && !(topP < 1.0))
        {
            zk = z;
        }
        double target = u * zk;
        // The first kept token with weight whose running sum passes the target, else the last with weight.
        double acc = 0;
        int last = fallback;
        foreach (int v in kept.Where(v => W(v) > 0))
        {
            acc += W(v);
            if (acc > target)
            {
                return v;
            }
            last = v;
        }
        return last;
    }
}
