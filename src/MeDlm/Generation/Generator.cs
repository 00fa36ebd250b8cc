using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using MeDlm.Decoding;
using MeDlm.Model;
using MeDlm.Sessions;
using MeDlm.Tokenization;

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

    /// <summary>The runner of this generator's passes (tests read its counters).</summary>
    internal ModelRunner Runner => _runner;

    /// <summary>The shape a pass over <paramref name="rows"/> rows of at most <paramref name="length"/> positions is bound at (shape buckets, docs/DESIGN.md §4.2).</summary>
    public (int Batch, int Seq) BoundShape(int rows, int length) => _runner.Bucketed(rows, length);

    /// <summary>What this generator's passes move between host and device, and the shapes it has bound.</summary>
    public PassIoStats PassIo => new(ModelRunner.InputBytesPerPosition, _runner.DenoiserHostBytesPerPosition,
        _runner.EditHostBytesPerPosition, _runner.ShapeBucket, _runner.ShapeBindings, _runner.HostMemoryPageLocked);

    /// <summary>
    /// Resolves <paramref name="request"/> against this model: the manifest's defaults applied, the budget
    /// split, every rule checked (prompt, context, steps, blocks, edit head), without running it. Hosts plan
    /// once, enforce their own limits on the plan, and run the plan.
    /// </summary>
    /// <exception cref="GenerationRequestException">The request is invalid for this model; it names the property.</exception>
    public GenerationPlan Plan(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RequestPlanner.Plan(_package, request, 0);
    }

    /// <summary>Generates one response.</summary>
    /// <exception cref="GenerationRequestException">The request is invalid for this model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled (also mid-pass).</exception>
    public GenerationResult Generate(GenerationRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return GenerateBatch([request], ct)[0];
    }

    /// <summary>Generates the response of a plan made by <see cref="Plan"/>.</summary>
    public GenerationResult Generate(GenerationPlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return GenerateBatch([plan], ct)[0];
    }

    /// <summary><see cref="Generate(GenerationRequest, CancellationToken)"/> on the thread pool.</summary>
    public Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.Run(() => Generate(request, ct), ct);
    }

    /// <summary><see cref="Generate(GenerationPlan, CancellationToken)"/> on the thread pool.</summary>
    public Task<GenerationResult> GenerateAsync(GenerationPlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Task.Run(() => Generate(plan, ct), ct);
    }

    /// <summary>
    /// Generates a batch in lockstep: one forward pass per step for all unfinished requests (right-padded;
    /// prompts may differ in length and settings). Each result equals what the request gives alone.
    /// </summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<GenerationRequest> requests, CancellationToken ct = default) =>
        GenerateBatch(PlanAll(requests), ct);

    /// <summary>Generates a batch of plans in lockstep (see <see cref="GenerateBatch(IReadOnlyList{GenerationRequest}, CancellationToken)"/>).</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<GenerationPlan> plans, CancellationToken ct = default)
    {
        CheckBatch(plans);
        var results = new GenerationResult[plans.Count];
        var entries = new ContinuousRequest[plans.Count];
        for (int i = 0; i < entries.Length; i++)
        {
            int index = i;
            entries[i] = new ContinuousRequest(plans[i], r => results[index] = r);
        }
        Drive(AllAtOnce(entries), entries.Length, null, null, ct);
        return results;
    }

    /// <summary><see cref="GenerateBatch(IReadOnlyList{GenerationRequest}, CancellationToken)"/> on the thread pool.</summary>
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

    /// <summary>Streams every pass of a plan made by <see cref="Plan"/> (see <see cref="GenerateStreamingAsync(GenerationRequest, CancellationToken)"/>).</summary>
    public IAsyncEnumerable<GenerationStep> GenerateStreamingAsync(GenerationPlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return GenerateBatchStreamingAsync([plan], ct);
    }

    /// <summary>Streams every pass of a batch; steps carry their request's index. Each request's last step carries its result.</summary>
    public IAsyncEnumerable<GenerationStep> GenerateBatchStreamingAsync(IReadOnlyList<GenerationRequest> requests,
        CancellationToken ct = default) => GenerateBatchStreamingAsync(PlanAll(requests), ct);

    /// <summary>Streams every pass of a batch of plans (see <see cref="GenerateBatchStreamingAsync(IReadOnlyList{GenerationRequest}, CancellationToken)"/>).</summary>
    public async IAsyncEnumerable<GenerationStep> GenerateBatchStreamingAsync(IReadOnlyList<GenerationPlan> plans,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        CheckBatch(plans);
        // The run goes pass by pass at the consumer's pace: a pass's steps go out once the pass is over (so
        // that each finished row's last step holds its result), and the next pass starts when the consumer
        // asks for more, as a loop that breaks or cancels a row between steps would expect.
        var passes = Channel.CreateUnbounded<List<GenerationStep>>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var consumed = new SemaphoreSlim(0);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pass = new List<GenerationStep>();
        var last = new Dictionary<int, GenerationStep>();
        var entries = new ContinuousRequest[plans.Count];
        for (int i = 0; i < entries.Length; i++)
        {
            int index = i;
            entries[i] = new ContinuousRequest(plans[i], r =>
            {
                if (last.TryGetValue(index, out GenerationStep? step))
                {
                    step.Result = r;
                }
            })
            {
                OnStep = step =>
                {
                    pass.Add(step);
                    last[index] = step;
                },
            };
        }
        void HandOver()
        {
            if (pass.Count == 0)
            {
                return;
            }
            passes.Writer.TryWrite(pass);
            pass = [];
            consumed.Wait(stop.Token);
        }

        Task run = Task.Run(() =>
        {
            try
            {
                Drive(AllAtOnce(entries), entries.Length, null, HandOver, stop.Token);
                passes.Writer.TryComplete();
            }
            catch (Exception e)
            {
                passes.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            while (await passes.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (passes.Reader.TryRead(out List<GenerationStep>? steps))
                {
                    foreach (GenerationStep step in steps)
                    {
                        yield return step;
                    }
                }
                consumed.Release();
            }
        }
        finally
        {
            // The consumer stopped early (or the run failed): end the run and wait for the buffers to be free.
            await stop.CancelAsync().ConfigureAwait(false);
            await run.ConfigureAwait(false);
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
        Drive(take, maxBatchSize, onPass, null, ct);
    }

    /// <summary>
    /// The one driver loop behind every generate call: admit what <paramref name="take"/> gives between
    /// passes, run a pass, hand out steps and results, drop finished rows.
    /// </summary>
    private void Drive(Func<int, IReadOnlyList<ContinuousRequest>> take, int maxBatchSize, Action<int>? onPass, Action? afterPass,
        CancellationToken ct)
    {
        _gate.Wait(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            SpecialTokens st = _package.Manifest.SpecialTokens;
            StepRecorder? recorder = null;
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
                            GenerationPlan plan;
                            try
                            {
                                plan = entry.Plan ?? RequestPlanner.Plan(_package, entry.Request!, next);
                            }
                            catch (GenerationRequestException e)
                            {
                                entry.OnRejected(e);
                                continue;
                            }
                            running.Add(next, entry);
                            watching += entry.OnStep is null ? 0 : 1;
                            _decoder.Admit(new RowPlan(next, plan, st));
                            next++;
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
                    if (watching > 0)
                    {
                        recorder ??= new StepRecorder(_package.Tokenizer, st.Mask, st.Pad, st.Delete);
                    }
                    _decoder.Step(ct, watching > 0 ? recorder : null);
                    if (recorder is not null)
                    {
                        foreach (GenerationStep step in recorder.Pending)
                        {
                            running[step.RequestIndex].OnStep?.Invoke(step);
                        }
                        recorder.Pending.Clear();
                    }
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
                        recorder?.Forget(index);
                        entry.OnCompleted(BuildResult(row));
                    }
                    _decoder.RemoveFinished();
                    afterPass?.Invoke();
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A take that hands out every entry at the first call, then none.</summary>
    private static Func<int, IReadOnlyList<ContinuousRequest>> AllAtOnce(ContinuousRequest[] entries)
    {
        bool taken = false;
        return _ =>
        {
            if (taken)
            {
                return [];
            }
            taken = true;
            return entries;
        };
    }

    private GenerationPlan[] PlanAll(IReadOnlyList<GenerationRequest> requests)
    {
        CheckBatch(requests);
        var plans = new GenerationPlan[requests.Count];
        for (int i = 0; i < plans.Length; i++)
        {
            plans[i] = RequestPlanner.Plan(_package, requests[i] ?? throw new ArgumentException($"Request {i} is null.", nameof(requests)), i);
        }
        return plans;
    }

    private static void CheckBatch<T>(IReadOnlyList<T> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            throw new ArgumentException("The batch is empty.", nameof(batch));
        }
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch[i] is null)
            {
                throw new ArgumentException($"Entry {i} of the batch is null.", nameof(batch));
            }
        }
    }

    private GenerationResult BuildResult(RowState row)
    {
        SpecialTokens st = _package.Manifest.SpecialTokens;
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
        int answerLength = AnswerText.AnswerLength(response, st);
        int draftAnswerLength = AnswerText.AnswerLength(draft, st);
        string text = DecodeAnswer(response.AsSpan(0, answerLength), out int[] pieceEnds);
        return new GenerationResult
        {
            Text = text,
            AnswerPieceEnds = pieceEnds,
            TokenIds = response,
            AnswerLength = answerLength,
            DraftText = Decode(draft, draftAnswerLength),
            DraftTokenIds = draft,
            DraftAnswerLength = draftAnswerLength,
            PromptTokenIds = row.Plan.Prompt,
            Stats = new GenerationStats
            {
                PromptTokens = row.PromptLength,
                MaskPasses = row.MaskPasses,
                EditPasses = row.EditRounds,
                PlannedEditRounds = row.Plan.EditSteps,
                ReachedFixedPoint = row.ReachedFixedPoint,
                TokensCommittedPerPass = counts,
                CommittedPositions = positions,
                Edits = row.Edits,
                ModelTime = Stopwatch.GetElapsedTime(0, row.OrtTicks),
                OverheadTime = Stopwatch.GetElapsedTime(0, row.OtherTicks),
            },
            ReachedLengthLimit = answerLength >= row.Plan.GenLength - 1,
            Cancelled = row.Cancelled,
        };
    }

    /// <summary>
    /// The answer's text, decoded once token by token (special tokens skipped), and where each token's text
    /// ends in it: the pieces a streamed answer sends.
    /// </summary>
    private string DecodeAnswer(ReadOnlySpan<int> ids, out int[] pieceEnds)
    {
        var decoder = new StreamingDecoder(_package.Tokenizer, skipSpecialTokens: true);
        var text = new StringBuilder();
        pieceEnds = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            text.Append(decoder.AppendChars(ids.Slice(i, 1)));
            pieceEnds[i] = text.Length;
        }
        text.Append(decoder.Flush());
        if (ids.Length > 0)
        {
            pieceEnds[^1] = text.Length;
        }
        return text.ToString();
    }

    /// <summary>The text of the first <paramref name="length"/> ids, special tokens skipped.</summary>
    private string Decode(int[] ids, int length) => _package.Tokenizer.Decode(ids.AsSpan(0, length), skipSpecialTokens: true);

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

/// <summary>
/// Host traffic of a generator's passes by output form (docs/DESIGN.md §3.4): bytes per position copied to the
/// device (inputs) and back (the denoiser's outputs every pass, the edit head's in edit rounds); the hidden
/// states never cross the host.
/// </summary>
/// <param name="InputBytesPerPosition">input_ids and attention_mask.</param>
/// <param name="DenoiserBytesPerPosition">The denoiser's outputs: 4 x vocab (2 x in float16) for full rows, K x 12 + 4 + 4 x specials for top-K.</param>
/// <param name="EditHeadBytesPerPosition">The edit head's outputs: 4 x vocab for full rows, 12 for argmax; 0 without an edit head.</param>
/// <param name="ShapeBucket">The shape buckets' length multiple; 1 for exact shapes.</param>
/// <param name="ShapesBound">Pass shapes bound so far.</param>
/// <param name="PageLocked">Whether the host buffers are page-locked (CUDA).</param>
public readonly record struct PassIoStats(int InputBytesPerPosition, int DenoiserBytesPerPosition, int EditHeadBytesPerPosition,
    int ShapeBucket, int ShapesBound, bool PageLocked)
{
    /// <summary>Bytes per position of a stage-1 pass.</summary>
    public int MaskPassBytesPerPosition => InputBytesPerPosition + DenoiserBytesPerPosition;

    /// <summary>Bytes per position of an edit round (the denoiser and the edit head).</summary>
    public int EditRoundBytesPerPosition => InputBytesPerPosition + DenoiserBytesPerPosition + EditHeadBytesPerPosition;
}
