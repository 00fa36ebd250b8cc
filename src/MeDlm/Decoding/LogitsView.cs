using MeDlm.Kernels;
using MeDlm.Sessions;

namespace MeDlm.Decoding;

/// <summary>
/// The output of one forward pass in the forms a package declares (docs/DESIGN.md §3.4): the denoiser's full
/// vocabulary rows, or its top-K reduced form (per position the K best ids and logits, a log-sum-exp and
/// the special ids' logits); the edit head's full next-token rows, or its argmax form (per position the
/// argmax id and its probability). Valid until the next run of the runner. The decoder steps read it through
/// <see cref="SequenceLogits"/>, which answers the questions they ask in both forms, so no step branches on
/// the form.
/// </summary>
internal readonly ref struct LogitsView
{
    private readonly ReadOnlySpan<float> _full;
    private readonly ReadOnlySpan<float> _next;
    private readonly ReadOnlySpan<long> _nextIds;
    private readonly ReadOnlySpan<float> _nextProb;
    private readonly ReadOnlySpan<long> _topIds;
    private readonly ReadOnlySpan<float> _topLogits;
    private readonly ReadOnlySpan<float> _logSumExp;
    private readonly ReadOnlySpan<float> _special;
    private readonly ReadOnlySpan<int> _specialIds;
    private readonly bool _logSumExpIsRest;

    public LogitsView(ModelRunner runner, bool withNext)
    {
        Vocab = runner.Vocab;
        Seq = runner.Seq;
        TopK = runner.TopK;
        if (TopK > 0)
        {
            _topIds = runner.TopKIds;
            _topLogits = runner.TopKLogits;
            _logSumExp = runner.LogSumExp;
            _special = runner.SpecialLogits;
            _specialIds = runner.TopKSpecialIds;
            _logSumExpIsRest = runner.LogSumExpIsRest;
        }
        else
        {
            _full = runner.Logits;
        }
        NextArgmaxForm = runner.EditHeadArgmax;
        NextIsExact = NextArgmaxForm;
        if (withNext)
        {
            if (NextArgmaxForm)
            {
                _nextIds = runner.NextTokenIds;
                _nextProb = runner.NextTokenProb;
            }
            else
            {
                _next = runner.NextLogits;
            }
        }
    }

    /// <summary>Whether the edit head's output is its argmax form (no full next-token rows).</summary>
    public bool NextArgmaxForm { get; }

    /// <summary>
    /// Whether the next-token head's probabilities are final (the argmax form: the graph's own, there is no
    /// row to refine them from); full rows give the fast kernel's.
    /// </summary>
    public bool NextIsExact { get; }

    public int Vocab { get; }

    /// <summary>Positions per batch row of this pass.</summary>
    public int Seq { get; }

    /// <summary>K of the reduced form; 0 for full rows.</summary>
    public int TopK { get; }

    /// <summary>The view of one sequence of the batch (and its unconditional copy when guided).</summary>
    public SequenceLogits For(RowState row)
    {
        float guideScale = (float)(row.Plan.CfgScale + 1);
        return new SequenceLogits(this, row.BatchRow, row.GuidanceRow, guideScale,
            row.GuidanceRow >= 0 ? row.GuidedLogits.AsSpan(0, Vocab) : default);
    }

    internal ReadOnlySpan<float> FullRow(int at)
    {
        if (TopK > 0)
        {
            // Sampling and guidance need full rows: a reduced-form package is refused them at planning.
            throw new InvalidOperationException("The model outputs the top-K reduced form: full logit rows are not available.");
        }
        return _full.Slice(at * Vocab, Vocab);
    }

    internal ReadOnlySpan<float> NextRow(int at)
    {
        if (NextArgmaxForm)
        {
            throw new InvalidOperationException("The model's edit head outputs its argmax form: full next-token rows are not available.");
        }
        return _next.Slice(at * Vocab, Vocab);
    }

    /// <summary>The next-token head's argmax at flat position <paramref name="at"/> (ties to the lower id).</summary>
    internal int NextArgmax(int at) => NextArgmaxForm ? (int)_nextIds[at] : Kernels.Argmax.Index(NextRow(at));

    /// <summary>
    /// The next-token head's argmax at <paramref name="at"/> and its softmax probability: the graph's (argmax
    /// form) or the fast float32 kernel's, within <see cref="Confidence.ArgmaxProbabilityError"/> (full rows).
    /// </summary>
    internal int NextArgmax(int at, out double probability)
    {
        if (NextArgmaxForm)
        {
            probability = _nextProb[at];
            return (int)_nextIds[at];
        }
        int x = Confidence.ArgmaxProbability(NextRow(at), default, default, out float p);
        probability = p;
        return x;
    }

    /// <summary>The argmax outside <paramref name="banned"/> at flat position <paramref name="at"/> (ties to the lower id).</summary>
    internal int Argmax(int at, ReadOnlySpan<int> banned, out float logit)
    {
        if (TopK == 0)
        {
            ReadOnlySpan<float> row = FullRow(at);
            int x = Kernels.Argmax.Index(row, banned);
            logit = x >= 0 ? row[x] : float.NegativeInfinity;
            return x;
        }
        int id = TopKLogits.Argmax(_topIds.Slice(at * TopK, TopK), _topLogits.Slice(at * TopK, TopK), banned, out logit);
        if (id < 0)
        {
            // Excluded at load time (K exceeds the special ids, the only ids ever banned).
            throw new InvalidOperationException($"All top-{TopK} candidates at position {at % Seq} are banned.");
        }
        return id;
    }

    /// <summary>The logit of <paramref name="token"/> at <paramref name="at"/>, read off the top K.</summary>
    internal float ReducedLogit(int at, int token)
    {
        int j = _topIds.Slice(at * TopK, TopK).IndexOf((long)token);
        if (j < 0)
        {
            throw new InvalidOperationException($"Token {token} is not among the top {TopK} at position {at % Seq}.");
        }
        return _topLogits[(at * TopK) + j];
    }

    /// <summary>softmax(l)[token] in float64 with both banned sets at -inf, from the reduced form at <paramref name="at"/>.</summary>
    internal double ReducedProbability(int at, int token, float tokenLogit, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        int ns = _specialIds.Length;
        ReadOnlySpan<long> ids = _topIds.Slice(at * TopK, TopK);
        ReadOnlySpan<float> logits = _topLogits.Slice(at * TopK, TopK);
        ReadOnlySpan<float> special = _special.Slice(at * ns, ns);
        return _logSumExpIsRest
            ? TopKLogits.ProbabilityFromRest(token, tokenLogit, _logSumExp[at], ids, logits, _specialIds, special, bannedA, bannedB)
            : TopKLogits.Probability(token, tokenLogit, _logSumExp[at], ids, logits, Vocab, _specialIds, special, bannedA, bannedB);
    }
}

/// <summary>
/// One sequence's logits in a pass: position i of the row (its conditional batch row, mixed with the
/// unconditional copy when the row is guided). Positions map to the batch in <see cref="At"/> only, the
/// place a shifted view (position j predicted by the logits at j - 1) would change.
/// </summary>
internal readonly ref struct SequenceLogits
{
    private readonly LogitsView _view;
    private readonly int _batchRow;
    private readonly int _guidanceRow;
    private readonly float _guideScale;
    private readonly Span<float> _guided;

    public SequenceLogits(LogitsView view, int batchRow, int guidanceRow, float guideScale, Span<float> guided)
    {
        _view = view;
        _batchRow = batchRow;
        _guidanceRow = guidanceRow;
        _guideScale = guideScale;
        _guided = guided;
    }

    /// <summary>
    /// Whether <see cref="Greedy"/> gives the exact float64 confidence (reduced form, unguided). Otherwise
    /// it comes from the fast float32 kernel, within <see cref="Confidence.ArgmaxProbabilityError"/> of it.
    /// </summary>
    public bool GreedyIsExact => _view.TopK > 0;

    /// <summary>The full logits row of position i: the conditional row, or the guided mix u + (s + 1)(c - u).</summary>
    public ReadOnlySpan<float> Row(int i)
    {
        ReadOnlySpan<float> l = _view.FullRow(At(_batchRow, i));
        if (_guidanceRow < 0)
        {
            return l;
        }
        // In float32, like the reference's tensor arithmetic.
        ReadOnlySpan<float> u = _view.FullRow(At(_guidanceRow, i));
        Span<float> g = _guided;
        float s = _guideScale;
        for (int t = 0; t < g.Length; t++)
        {
            g[t] = u[t] + (s * (l[t] - u[t]));
        }
        return g;
    }

    /// <summary>The next-token head's row at position i (edit rounds; never guided; full form only).</summary>
    public ReadOnlySpan<float> NextRow(int i) => _view.NextRow(At(_batchRow, i));

    /// <summary>The next-token head's argmax at position i (ties to the lower id), in either output form.</summary>
    public int NextArgmax(int i) => _view.NextArgmax(At(_batchRow, i));

    /// <summary>
    /// The next-token head's argmax at position i (ties to the lower id) and its probability softmax(l)[argmax]
    /// (edit rounds, docs/DESIGN.md §2.3), in either output form: the argmax form's comes from the graph
    /// (float32), full rows' from the fast float32 kernel, within <see cref="Confidence.ArgmaxProbabilityError"/>
    /// of the float64 one (<see cref="NextArgmaxIsExact"/> false: refine with <see cref="NextExactProbability"/>).
    /// </summary>
    public int NextArgmax(int i, out double probability) => _view.NextArgmax(At(_batchRow, i), out probability);

    /// <summary>Whether <see cref="NextArgmax(int, out double)"/> gives the final probability (the argmax form: there is no row to refine it from).</summary>
    public bool NextArgmaxIsExact => _view.NextIsExact;

    /// <summary>softmax(l)[token] in float64 of the next-token head's row at position i (no ids banned; full rows only).</summary>
    public double NextExactProbability(int i, int token) => Confidence.ExactProbability(NextRow(i), token, default, default);

    /// <summary>The argmax of position i outside <paramref name="banned"/> (ties to the lower id).</summary>
    public int Argmax(int i, ReadOnlySpan<int> banned) =>
        _guidanceRow < 0 ? _view.Argmax(At(_batchRow, i), banned, out _) : Kernels.Argmax.Index(Row(i), banned);

    /// <summary>
    /// Greedy x0 (argmax outside <paramref name="bannedA"/>) and its confidence, softmax(l)[x0] with both
    /// banned sets at -inf: exact when <see cref="GreedyIsExact"/>, else the fast kernel's value.
    /// </summary>
    public int Greedy(int i, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB, out double confidence)
    {
        if (_view.TopK > 0)
        {
            int at = At(_batchRow, i);
            int x = _view.Argmax(at, bannedA, out float logit);
            confidence = _view.ReducedProbability(at, x, logit, bannedA, bannedB);
            return x;
        }
        int x0 = Confidence.ArgmaxProbability(Row(i), bannedA, bannedB, out float c);
        confidence = c;
        return x0;
    }

    /// <summary>softmax(l)[token] at position i in float64 with both banned sets at -inf.</summary>
    public double ExactProbability(int i, int token, ReadOnlySpan<int> bannedA, ReadOnlySpan<int> bannedB)
    {
        if (_view.TopK > 0)
        {
            int at = At(_batchRow, i);
            return _view.ReducedProbability(at, token, _view.ReducedLogit(at, token), bannedA, bannedB);
        }
        return Confidence.ExactProbability(Row(i), token, bannedA, bannedB);
    }

    private int At(int batchRow, int i) => (batchRow * _view.Seq) + i;
}
