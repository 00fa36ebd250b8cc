using System.Diagnostics;
using System.Runtime.CompilerServices;
using MeDlm.Decoding;
using MeDlm.Model;
using MeDlm.Sessions;

namespace MeDlm.Generation;

/// <summary>
/// Generates text with a loaded <see cref="ModelPackage"/>. Thread-safe: calls are serialised on one
/// set of reused buffers (a batch is the way to run several sequences at once); concurrent callers
/// wait their turn. Create one per package and keep it; several generators over one package run in
/// parallel, each with its own buffers.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly ModelPackage _package;
    private readonly ModelRunner _runner;
    private readonly BatchDecoder _decoder;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _disposed;

    /// <summary>Creates a generator over <paramref name="package"/> (which must outlive it).</summary>
    public Generator(ModelPackage package)
    {
        ArgumentNullException.ThrowIfNull(package);
        _package = package;
        _runner = new ModelRunner(package);
        _decoder = new BatchDecoder(_runner, package.Manifest.SpecialTokens);
    }

    /// <summary>The model this generator runs.</summary>
    public ModelPackage Package => _package;

    /// <summary>
    /// Checks <paramref name="request"/> against this model (prompt, context, steps, blocks, edit head)
    /// without running it, with the same messages a generate call would throw.
    /// </summary>
    /// <exception cref="ArgumentException">The request is invalid for this model.</exception>
    public void Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        RequestPlanner.Plan(_package, request, 0);
    }

    /// <summary>Generates one response.</summary>
    /// <exception cref="ArgumentException">The request is invalid for this model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled (also mid-pass).</exception>
    public GenerationResult Generate(GenerationRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return GenerateBatch([request], ct)[0];
    }

    /// <summary><see cref="Generate"/> on the thread pool.</summary>
    public Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.Run(() => Generate(request, ct), ct);
    }

    /// <summary>
    /// Generates a batch in lockstep: one forward pass per step for all unfinished requests (right-padded;
    /// prompts may differ in length and settings). Each result equals what the request gives alone.
    /// </summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<GenerationRequest> requests, CancellationToken ct = default)
    {
        RowPlan[] plans = PlanAll(requests);
        _gate.Wait(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _decoder.Start(plans);
            using (_runner.RegisterCancellation(ct))
            {
                while (!_decoder.IsDone)
                {
                    _decoder.Step(ct);
                }
            }
            var results = new GenerationResult[plans.Length];
            ReadOnlySpan<RowState> rows = _decoder.Rows;
            for (int r = 0; r < rows.Length; r++)
            {
                results[r] = BuildResult(rows[r]);
            }
            return results;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary><see cref="GenerateBatch"/> on the thread pool.</summary>
    public Task<IReadOnlyList<GenerationResult>> GenerateBatchAsync(IReadOnlyList<GenerationRequest> requests, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        return Task.Run(() => GenerateBatch(requests, ct), ct);
    }

    /// <summary>
    /// Streams every pass of one request: the stage, the pass index, the canvas and what changed. The last
    /// step carries the <see cref="GenerationResult"/>. Breaking out of the loop ends the generation.
    /// </summary>
    public IAsyncEnumerable<GenerationStep> GenerateStreamingAsync(GenerationRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return GenerateBatchStreamingAsync([request], ct);
    }

    /// <summary>Streams every pass of a batch; steps carry their request's index. Each request's last step carries its result.</summary>
    public async IAsyncEnumerable<GenerationStep> GenerateBatchStreamingAsync(IReadOnlyList<GenerationRequest> requests,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        RowPlan[] plans = PlanAll(requests);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            SpecialTokens st = _package.Manifest.SpecialTokens;
            var recorder = new StepRecorder(_package.Tokenizer, st.Mask, st.Pad, st.Delete);
            _decoder.Start(plans);
            bool[] finished = new bool[plans.Length];
            using (_runner.RegisterCancellation(ct))
            {
                while (!_decoder.IsDone)
                {
                    // The pass runs on the thread pool so that the consumer's context is not blocked.
                    await Task.Run(() => _decoder.Step(ct, recorder), ct).ConfigureAwait(false);
                    AttachResults(recorder.Pending, finished);
                    foreach (GenerationStep step in recorder.Pending)
                    {
                        yield return step;
                    }
                    recorder.Pending.Clear();
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Continuous batching: runs sequences in lockstep while new ones join between passes and finished ones
    /// leave, until none is running and <paramref name="take"/> has none to start. Before every pass
    /// <paramref name="take"/> is asked (without blocking) for up to the number of free slots of
    /// <paramref name="maxBatchSize"/>. Each sequence gives what it gives alone. Blocks the calling thread
    /// for the whole run (run it on a dedicated thread); other calls on this generator wait for it.
    /// </summary>
    /// <param name="take">Requests to start now, at most the given count; empty when none is waiting.</param>
    /// <param name="maxBatchSize">Most sequences in one pass.</param>
    /// <param name="onPass">Optional: called before every forward pass with the number of sequences in it.</param>
    /// <param name="ct">Cancels the whole run (also mid-pass); the sequences then get no outcome.</param>
    public void RunContinuous(Func<int, IReadOnlyList<ContinuousRequest>> take, int maxBatchSize, Action<int>? onPass = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(take);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatchSize);
        _gate.Wait(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            SpecialTokens st = _package.Manifest.SpecialTokens;
            var recorder = new StepRecorder(_package.Tokenizer, st.Mask, st.Pad, st.Delete);
            var running = new Dictionary<int, ContinuousRequest>(maxBatchSize);
            int watching = 0;
            int next = 0;
            _decoder.Start([]);
            using (_runner.RegisterCancellation(ct))
            {
                while (true)
                {
                    int free = maxBatchSize - running.Count;
                    if (free > 0)
                    {
                        IReadOnlyList<ContinuousRequest> joining = take(free);
                        if (joining.Count > free)
                        {
                            throw new InvalidOperationException($"take returned {joining.Count} requests for {free} free slots.");
                        }
                        int admitted = 0;
                        for (int j = 0; j < joining.Count; j++)
                        {
                            ContinuousRequest entry = joining[j];
                            RowPlan plan;
                            try
                            {
                                plan = RequestPlanner.Plan(_package, entry.Request, next);
                            }
                            catch (ArgumentException e)
                            {
                                entry.OnRejected(e);
                                continue;
                            }
                            running.Add(next++, entry);
                            watching += entry.OnStep is null ? 0 : 1;
                            _decoder.Admit(plan);
                            admitted++;
                        }
                        // Admit appends: the joiners are the last rows.
                        foreach (RowState row in _decoder.Rows[^admitted..])
                        {
                            running[row.Plan.RequestIndex].OnStarted?.Invoke(running.Count);
                        }
                    }
                    if (running.Count == 0)
                    {
                        return;
                    }

                    onPass?.Invoke(running.Count);
                    _decoder.Step(ct, watching > 0 ? recorder : null);
                    foreach (GenerationStep step in recorder.Pending)
                    {
                        running[step.RequestIndex].OnStep?.Invoke(step);
                    }
                    recorder.Pending.Clear();
                    foreach (RowState row in _decoder.Rows)
                    {
                        if (row.Stage != RowStage.Done)
                        {
                            continue;
                        }
                        int index = row.Plan.RequestIndex;
                        ContinuousRequest entry = running[index];
                        running.Remove(index);
                        watching -= entry.OnStep is null ? 0 : 1;
                        recorder.Forget(index);
                        entry.OnCompleted(BuildResult(row));
                    }
                    _decoder.RemoveFinished();
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Puts each newly finished row's result on its last step of this pass.</summary>
    private void AttachResults(List<GenerationStep> steps, bool[] finished)
    {
        ReadOnlySpan<RowState> rows = _decoder.Rows;
        for (int r = 0; r < rows.Length; r++)
        {
            if (finished[r] || rows[r].Stage != RowStage.Done)
            {
                continue;
            }
            finished[r] = true;
            for (int s = steps.Count - 1; s >= 0; s--)
            {
                if (steps[s].RequestIndex == r)
                {
                    steps[s].Result = BuildResult(rows[r]);
                    break;
                }
            }
        }
    }

    private RowPlan[] PlanAll(IReadOnlyList<GenerationRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0)
        {
            throw new ArgumentException("The batch is empty.", nameof(requests));
        }
        var plans = new RowPlan[requests.Count];
        for (int i = 0; i < plans.Length; i++)
        {
            plans[i] = RequestPlanner.Plan(_package, requests[i] ?? throw new ArgumentException($"Request {i} is null.", nameof(requests)), i);
        }
        return plans;
    }

    private GenerationResult BuildResult(RowState row)
    {
        int[] response = ToInts(row.Response);
        int[] draft = ToInts(row.Draft.AsSpan(0, row.DraftLength));
        int[] counts = [.. row.CommitCounts];
        var positions = new int[counts.Length][];
        int at = 0;
        for (int s = 0; s < counts.Length; s++)
        {
            positions[s] = row.CommitPositions.GetRange(at, counts[s]).ToArray();
            at += counts[s];
        }
        var stats = new GenerationStats(row.PromptLength, row.MaskPasses, row.EditRounds, row.Plan.EditSteps, row.ReachedFixedPoint,
            counts, positions, row.Edits, Stopwatch.GetElapsedTime(0, row.OrtTicks), Stopwatch.GetElapsedTime(0, row.OtherTicks));
        int end = AnswerLength(response);
        bool reachedLimit = end >= row.Plan.GenLength - 1;
        return new GenerationResult(DecodeAnswer(response), response, DecodeAnswer(draft), draft, row.Plan.Prompt, stats, reachedLimit,
            row.Cancelled);
    }

    /// <summary>Tokens before the first END, PAD or EOS (all of them when there is none).</summary>
    private int AnswerLength(int[] ids)
    {
        SpecialTokens st = _package.Manifest.SpecialTokens;
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] == st.Pad || ids[i] == st.End || ids[i] == st.Eos)
            {
                return i;
            }
        }
        return ids.Length;
    }

    /// <summary>The text of a response up to its first END or PAD, special tokens skipped.</summary>
    private string DecodeAnswer(int[] ids) => _package.Tokenizer.Decode(ids.AsSpan(0, AnswerLength(ids)), skipSpecialTokens: true);

    private static int[] ToInts(ReadOnlySpan<long> ids)
    {
        int[] a = new int[ids.Length];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (int)ids[i];
        }
        return a;
    }

    /// <summary>Releases the buffers (not the package). Waits for a generation in progress.</summary>
    public void Dispose()
    {
        _gate.Wait();
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _runner.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }
}
