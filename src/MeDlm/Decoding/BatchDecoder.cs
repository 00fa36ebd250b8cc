using System.Diagnostics;
using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Decoding;

/// <summary>
/// Decodes a batch of sequences in lockstep (docs/DESIGN.md §2 and §4.3): each <see cref="Step"/> is one forward
/// pass over every active row (<see cref="BatchPacking"/>), after which each row advances its own state
/// machine (<see cref="UnmaskStep"/>: stage-1 pass and the transition when its stage 1 ends;
/// <see cref="EditStep"/>: edit round, fixed point), reading the pass's output through a
/// <see cref="LogitsView"/>. A row that finishes leaves the batch; lengths change during edits and the
/// batch is re-padded each pass.
/// A row's result never depends on the other rows (keys of the counter RNG are per row; ties go to the
/// lower position), matching export/decoding.py token for token.
/// </summary>
/// <remarks>
/// Per-pass work allocates nothing: row buffers are sized when a request starts, the runner's buffers are
/// reused, and the kernels work over spans. (ONNX Runtime values are rebuilt when the batch shape
/// changes, i.e. on edit rounds.)
/// </remarks>
internal sealed class BatchDecoder
{
    private readonly ModelRunner _runner;
    private readonly SpecialTokens _ids;
    private readonly int _vocab;
    private readonly UnmaskStep _unmask;
    private readonly EditStep _edit;
    private readonly Stack<RowState> _free = []; // row states to reuse: their buffers keep their sizes
    private RowState[] _rows = [];
    private int _count;

    public BatchDecoder(ModelRunner runner, SpecialTokens ids)
    {
        _runner = runner;
        _ids = ids;
        _vocab = runner.Vocab;
        _unmask = new UnmaskStep(ids);
        _edit = new EditStep(ids);
    }

    /// <summary>The rows of the current batch, in request order.</summary>
    public ReadOnlySpan<RowState> Rows => _rows.AsSpan(0, _count);

    /// <summary>Forward passes run for the current batch.</summary>
    public int Passes { get; private set; }

    public bool IsDone
    {
        get
        {
            for (int r = 0; r < _count; r++)
            {
                if (_rows[r].Stage != RowStage.Done)
                {
                    return false;
                }
            }
            return true;
        }
    }

    /// <summary>Starts a batch: each plan's prompt followed by its G masks.</summary>
    public void Start(IReadOnlyList<RowPlan> plans)
    {
        for (int r = 0; r < _count; r++)
        {
            _free.Push(_rows[r]);
        }
        _count = 0;
        Passes = 0;
        for (int i = 0; i < plans.Count; i++) // indexed: foreach over the interface would allocate an enumerator
        {
            Admit(plans[i]);
        }
    }

    /// <summary>
    /// Adds a row to the running batch (continuous batching): it takes part from the next <see cref="Step"/>
    /// on. Its result is the same as alone: a row's state, RNG keys and pass counts are its own.
    /// </summary>
    public void Admit(RowPlan plan)
    {
        if (_count == _rows.Length)
        {
            Array.Resize(ref _rows, Math.Max(4, _rows.Length * 2));
        }
        RowState row = _free.Count > 0 ? _free.Pop() : new RowState();
        row.Reset(plan, _ids.Mask, _vocab);
        _unmask.StartBlock(row);
        _rows[_count++] = row;
    }

    /// <summary>
    /// Takes the finished rows out of the batch (their states are reused by later rows: read their results
    /// first). The remaining rows keep their order.
    /// </summary>
    public void RemoveFinished()
    {
        int kept = 0;
        for (int r = 0; r < _count; r++)
        {
            RowState row = _rows[r];
            if (row.Stage == RowStage.Done)
            {
                _free.Push(row);
            }
            else
            {
                _rows[kept++] = row;
            }
        }
        Array.Clear(_rows, kept, _count - kept);
        _count = kept;
    }

    /// <summary>Runs one forward pass for all active rows and advances each of them.</summary>
    public void Step(CancellationToken ct, IDecodeObserver? observer = null)
    {
        ct.ThrowIfCancellationRequested();
        long t0 = Stopwatch.GetTimestamp();
        ReadOnlySpan<RowState> rows = Rows;

        // A row whose own request was cancelled leaves now; the others are not affected.
        foreach (RowState row in rows)
        {
            if (row.Stage != RowStage.Done && row.Plan.Cancellation.IsCancellationRequested)
            {
                row.Stage = RowStage.Done;
                row.Cancelled = true;
            }
        }

        if (!BatchPacking.Pack(rows, _runner, _ids, out bool needEditHead))
        {
            return;
        }
        long ortBefore = _runner.OrtTicks;
        _runner.Run(needEditHead, ct);
        long ortTicks = _runner.OrtTicks - ortBefore;
        Passes++;

        var view = new LogitsView(_runner, needEditHead);
        foreach (RowState row in rows)
        {
            if (row.BatchRow < 0)
            {
                continue;
            }
            if (row.Stage == RowStage.Unmasking)
            {
                _unmask.Run(row, view.For(row), observer);
            }
            else
            {
                _edit.Run(row, view.For(row), observer);
            }
        }

        long other = Stopwatch.GetTimestamp() - t0 - ortTicks;
        foreach (RowState row in rows)
        {
            if (row.BatchRow >= 0)
            {
                // Every row of a pass waited for all of it.
                row.OrtTicks += ortTicks;
                row.OtherTicks += other;
            }
        }
    }
}
