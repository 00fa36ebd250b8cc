namespace MeDlm.Kernels;

/// <summary>
/// Kernels over the denoiser's top-K output form (docs/DESIGN.md §3.4, large vocabularies): per position the K best
/// ids with their logits (in any order), a log-sum-exp (of the tokens outside the top K, or of the whole
/// row), and the logits of a few special ids. Together they give what greedy decoding needs from a
/// 126k-wide row, argmax and confidence with the special-token bans, from K + specials + 1 numbers.
/// </summary>
public static class TopKLogits
{
    /// <summary>
    /// The argmax of the full row outside <paramref name="banned"/>, read off its top K: the highest logit,
    /// ties to the lower id, as <see cref="Argmax.Index(ReadOnlySpan{float}, ReadOnlySpan{int})"/> on the full row.
    /// </summary>
    /// <returns>The id, or -1 when all K are banned (the true argmax then lies outside the top K).</returns>
    public static int Argmax(ReadOnlySpan<long> ids, ReadOnlySpan<float> logits, ReadOnlySpan<int> banned, out float logit)
    {
        if (ids.Length != logits.Length)
        {
            throw new ArgumentException($"{ids.Length} ids but {logits.Length} logits.", nameof(logits));
        }
        long best = -1;
        float bestLogit = float.NegativeInfinity;
        for (int j = 0; j < ids.Length; j++)
        {
            long id = ids[j];
            float l = logits[j];
            if (banned.Contains((int)id))
            {
                continue;
            }
            // NaN never wins; -inf only when nothing better exists (as the full-row argmax).
            if (best < 0 ? !float.IsNaN(l) : l > bestLogit || (l == bestLogit && id < best))
            {
                best = id;
                bestLogit = l;
            }
        }
        logit = bestLogit;
        return (int)best;
    }

    /// <summary>
    /// softmax(l)[token] in float64 with the ids of <paramref name="bannedA"/> and <paramref name="bannedB"/>
    /// at -inf, as <see cref="Confidence.ExactProbability"/> computes it on the full row: exp(l_t - lse) / R, where R, the
    /// share of the mass left after the bans, is 1 - Σ_b exp(l_b - lse). When banned tokens hold nearly all
    /// the mass that difference loses its digits to the float32 log-sum-exp, so it is clamped to what the top
    /// K prove: at least their unbanned mass, at most that plus every other token at the smallest top-K logit.
    /// 0 when the token is banned or its logit is -inf.
    /// </summary>
    /// <param name="token">The token.</param>
    /// <param name="tokenLogit">Its logit.</param>
    /// <param name="logSumExp">log Σ exp over the whole row.</param>
    /// <param name="topIds">The row's top-K ids (any order).</param>
    /// <param name="topLogits">Their logits.</param>
    /// <param name="vocabSize">Width of the full row.</param>
    /// <param name="specialIds">Ids whose logits <paramref name="specialLogits"/> holds, in that order.</param>
    /// <param name="specialLogits">Their logits at this position.</param>
    /// <param name="bannedA">Ids at -inf (the argmax bans).</param>
    /// <param name="bannedB">More ids at -inf (the normaliser bans).</param>
    /// <exception cref="ArgumentException">A banned id is not among <paramref name="specialIds"/>.</exception>
    public static double Probability(int token, float tokenLogit, float logSumExp, ReadOnlySpan<long> topIds, ReadOnlySpan<float> topLogits,
        int vocabSize, ReadOnlySpan<int> specialIds, ReadOnlySpan<float> specialLogits, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if (HasNoMass(token, tokenLogit, topIds, topLogits, specialIds, specialLogits, bannedA, bannedB))
        {
            return 0.0;
        }
        double lse = logSumExp;
        double bannedMass = BannedMass(lse, specialIds, specialLogits, bannedA, default)
            + BannedMass(lse, specialIds, specialLogits, bannedB, bannedA);
        double topMass = 0;
        float smallest = float.PositiveInfinity;
        for (int j = 0; j < topIds.Length; j++)
        {
            int id = (int)topIds[j];
            smallest = Math.Min(smallest, topLogits[j]);
            if (!bannedA.Contains(id) && !bannedB.Contains(id) && !float.IsNegativeInfinity(topLogits[j]))
            {
                topMass += Math.Exp(topLogits[j] - lse);
            }
        }
        double p = Math.Exp(tokenLogit - lse);
        double outsideAtMost = Math.Max(0, vocabSize - topIds.Length) * Math.Exp(smallest - lse);
        double lower = Math.Max(topMass, p);
        double rest = Math.Clamp(1.0 - bannedMass, lower, Math.Max(lower, topMass + outsideAtMost));
        return rest > 0 ? Math.Min(1.0, p / rest) : 0.0;
    }

    /// <summary>
    /// softmax(l)[token] in float64 with the ids of <paramref name="bannedA"/> and <paramref name="bannedB"/>
    /// at -inf, from the top K and the log-sum-exp of the tokens OUTSIDE them: with m the largest top-K logit,
    /// exp(l_t - m) / (Σ_top exp(l_j - m) + exp(rest - m) - Σ_banned outside exp(l_b - m)). The top-K terms
    /// are exact, so only the small outside share carries the graph's float32 rounding. 0 when the token
    /// is banned or its logit is -inf.
    /// </summary>
    /// <exception cref="ArgumentException">A banned id is not among <paramref name="specialIds"/>.</exception>
    public static double ProbabilityFromRest(int token, float tokenLogit, float logSumExpRest, ReadOnlySpan<long> topIds,
        ReadOnlySpan<float> topLogits, ReadOnlySpan<int> specialIds, ReadOnlySpan<float> specialLogits,
        ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if (HasNoMass(token, tokenLogit, topIds, topLogits, specialIds, specialLogits, bannedA, bannedB))
        {
            return 0.0;
        }
        float m = tokenLogit;
        foreach (float l in topLogits)
        {
            m = Math.Max(m, l);
        }
        double top = 0;
        for (int j = 0; j < topIds.Length; j++)
        {
            int id = (int)topIds[j];
            if (!bannedA.Contains(id) && !bannedB.Contains(id) && !float.IsNegativeInfinity(topLogits[j]))
            {
                top += Math.Exp((double)topLogits[j] - m);
            }
        }
        // Banned ids outside the top K sit in the rest's sum: take them out again.
        double bannedOutside = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            ReadOnlySpan<int> banned = pass == 0 ? bannedA : bannedB;
            for (int i = 0; i < banned.Length; i++)
            {
                int b = banned[i];
                if ((pass == 1 && bannedA.Contains(b)) || banned[..i].Contains(b) || topIds.Contains(b))
                {
                    continue;
                }
                int at = specialIds.IndexOf(b);
                if (at < 0)
                {
                    throw new ArgumentException($"Banned id {b} is not among the special ids of the top-K form.", nameof(bannedA));
                }
                if (!float.IsNegativeInfinity(specialLogits[at]))
                {
                    bannedOutside += Math.Exp((double)specialLogits[at] - m);
                }
            }
        }
        double rest = float.IsNegativeInfinity(logSumExpRest) ? 0 : Math.Exp((double)logSumExpRest - m);
        double p = Math.Exp((double)tokenLogit - m);
        double z = top + Math.Max(0, rest - bannedOutside);
        return z > 0 ? Math.Min(1.0, p / z) : 0.0;
    }

    /// <summary>Checks that the spans pair up; true when the token is banned or its logit is -inf (probability 0).</summary>
    private static bool HasNoMass(int token, float tokenLogit, ReadOnlySpan<long> topIds, ReadOnlySpan<float> topLogits,
        ReadOnlySpan<int> specialIds, ReadOnlySpan<float> specialLogits, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if (specialIds.Length != specialLogits.Length)
        {
            throw new ArgumentException($"{specialIds.Length} special ids but {specialLogits.Length} logits.", nameof(specialLogits));
        }
        if (topIds.Length != topLogits.Length)
        {
            throw new ArgumentException($"{topIds.Length} ids but {topLogits.Length} logits.", nameof(topLogits));
        }
        return bannedA.Contains(token) || bannedB.Contains(token) || float.IsNegativeInfinity(tokenLogit);
    }

    /// <summary>Σ exp(l_b - lse) over the distinct ids of <paramref name="banned"/> not already in <paramref name="counted"/>.</summary>
    private static double BannedMass(double lse, ReadOnlySpan<int> specialIds, ReadOnlySpan<float> specialLogits,
        ReadOnlySpan<int> banned, ReadOnlySpan<int> counted)
    {
        double mass = 0;
        for (int i = 0; i < banned.Length; i++)
        {
            int b = banned[i];
            if (counted.Contains(b) || banned[..i].Contains(b))
            {
                continue;
            }
            int at = specialIds.IndexOf(b);
            if (at < 0)
            {
                throw new ArgumentException($"Banned id {b} is not among the special ids of the top-K form.", nameof(banned));
            }
            float l = specialLogits[at];
            if (!float.IsNegativeInfinity(l))
            {
                mass += Math.Exp(l - lse);
            }
        }
        return mass;
    }
}
