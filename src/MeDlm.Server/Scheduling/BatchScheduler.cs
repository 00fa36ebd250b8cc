using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Scheduling;

/// <summary>
/// Takes jobs from the <see cref="RequestQueue"/> in arrival order and runs them on the model's generator
/// with continuous batching: one lockstep batch (it already uses every core, or the GPU) that waiting jobs
/// join between forward passes, up to the batch size, and that each sequence leaves as soon as it is done,
/// so a short request never waits for a long one. When the model is idle, the first job waits at most the
/// batch window for companions. On shutdown it drains the queue and the running batch, and cancels
/// whatever is left when the shutdown timeout passes.
/// </summary>
internal sealed partial class BatchScheduler(
    RequestQueue queue,
    ModelHost host,
    IOptions<SchedulerOptions> options,
    ServerMetrics metrics,
    IHostApplicationLifetime lifetime,
    ILogger<BatchScheduler> logger) : BackgroundService
{
    private readonly SchedulerOptions _options = options.Value;
    private readonly CancellationTokenSource _shutdownDeadline = new();
    private readonly Lock _runningGate = new();
    private readonly HashSet<GenerationJob> _running = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration onStopping = lifetime.ApplicationStopping.Register(BeginShutdown);
        // Also when the host stops without ApplicationStopping (a failed start): end the loop.
        using CancellationTokenRegistration onStop = stoppingToken.Register(BeginShutdown);
        using CancellationTokenRegistration onDeadline = _shutdownDeadline.Token.Register(CancelRunning);

        ChannelReader<GenerationJob> reader = queue.Reader;
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            List<GenerationJob> first = [];
            try
            {
                first = await CollectBatchAsync(reader).ConfigureAwait(false);
                if (first.Count > 0)
                {
                    await RunAsync(first, reader).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The loop must outlive any one run: fail its jobs and go on.
                LogBatchFailed(logger, e, first.Count);
                foreach (GenerationJob job in first)
                {
                    job.Complete(new JobOutcome(JobOutcomeKind.Failed, null, "The server failed to run the request."));
                }
            }
        }
        LogDrained(logger);
    }

    /// <summary>Stops intake and arms the timeout after which remaining work is cancelled.</summary>
    private void BeginShutdown()
    {
        if (queue.IsClosed)
        {
            return;
        }
        LogShuttingDown(logger, queue.Count, _options.ShutdownTimeoutSeconds);
        queue.Close();
        try
        {
            _shutdownDeadline.CancelAfter(TimeSpan.FromSeconds(_options.ShutdownTimeoutSeconds));
        }
        catch (ObjectDisposedException)
        {
            // The scheduler has already ended.
        }
    }

    private void CancelRunning()
    {
        GenerationJob[] running;
        lock (_runningGate)
        {
            running = [.. _running];
        }
        if (running.Length > 0)
        {
            LogCancellingAtDeadline(logger, running.Length);
            foreach (GenerationJob job in running)
            {
                job.Cancel();
            }
        }
    }

    /// <summary>The jobs an idle model starts with: the first waiting job and those arriving within the batch window.</summary>
    private async Task<List<GenerationJob>> CollectBatchAsync(ChannelReader<GenerationJob> reader)
    {
        var batch = new List<GenerationJob>(_options.MaxBatchSize);
        long deadline = 0;
        while (batch.Count < _options.MaxBatchSize)
        {
            if (reader.TryPeek(out GenerationJob? next))
            {
                if (SkipIfCancelled(next, reader))
                {
                    continue;
                }
                reader.TryRead(out _);
                queue.OnDequeued();
                if (batch.Count == 0)
                {
                    deadline = Stopwatch.GetTimestamp() + (long)(_options.BatchWindowMilliseconds * (Stopwatch.Frequency / 1000.0));
                }
                batch.Add(next);
                continue;
            }
            if (batch.Count == 0)
            {
                // Everything that was waiting had been cancelled.
                break;
            }
            long left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0 || _shutdownDeadline.IsCancellationRequested)
            {
                break;
            }
            using var window = new CancellationTokenSource(TimeSpan.FromTicks(left * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            try
            {
                if (!await reader.WaitToReadAsync(window.Token).ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return batch;
    }

    /// <summary>Takes a cancelled job out of the queue and ends it; false when <paramref name="job"/> is live.</summary>
    private bool SkipIfCancelled(GenerationJob job, ChannelReader<GenerationJob> reader)
    {
        if (!job.Cancellation.IsCancellationRequested && !_shutdownDeadline.IsCancellationRequested)
        {
            return false;
        }
        reader.TryRead(out _);
        queue.OnDequeued();
        metrics.Cancelled.WithLabels("queued").Inc();
        job.Complete(JobOutcome.CancelledOutcome);
        return true;
    }

    /// <summary>
    /// One continuous run on the generator's own thread: <paramref name="first"/> start together, waiting
    /// jobs join between passes as sequences leave, and the run ends when the batch and the queue are empty.
    /// </summary>
    private async Task RunAsync(List<GenerationJob> first, ChannelReader<GenerationJob> reader)
    {
        LoadedModel model = host.Model ?? throw new InvalidOperationException("A job was queued before the model was ready.");
        long started = Stopwatch.GetTimestamp();
        int ran = 0;
        List<GenerationJob>? pending = first;
        IReadOnlyList<ContinuousRequest> Take(int free)
        {
            List<ContinuousRequest>? taken = null; // asked before every pass: nothing to allocate when none waits
            while ((taken?.Count ?? 0) < free)
            {
                GenerationJob job;
                if (pending is { Count: > 0 })
                {
                    job = pending[0];
                    pending.RemoveAt(0);
                }
                else if (reader.TryPeek(out GenerationJob? next))
                {
                    if (SkipIfCancelled(next, reader))
                    {
                        continue;
                    }
                    reader.TryRead(out _);
                    queue.OnDequeued();
                    job = next;
                }
                else
                {
                    break;
                }
                (taken ??= []).Add(Entry(job));
                ran++;
            }
            return taken ?? (IReadOnlyList<ContinuousRequest>)[];
        }

        try
        {
            // The run blocks its thread: a dedicated one, not one of the pool's few, so that request
            // handlers (streams, disconnect detection) keep running meanwhile.
            await Task.Factory.StartNew(() => model.Generator.RunContinuous(Take, _options.MaxBatchSize, onPass: ObservePass),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            GenerationJob[] failed;
            lock (_runningGate)
            {
                failed = [.. _running];
                _running.Clear();
            }
            LogBatchFailed(logger, e, failed.Length);
            foreach (GenerationJob job in failed)
            {
                Finish(job, new JobOutcome(JobOutcomeKind.Failed, null, "The model failed to generate: " + e.Message));
            }
        }
        finally
        {
            metrics.RunningSequences.Set(0);
        }
        double milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        LogBatchDone(logger, ran, milliseconds);
    }

    /// <summary>A job as the generator takes it, with its start, steps and end wired to the job and the metrics.</summary>
    private ContinuousRequest Entry(GenerationJob job)
    {
        lock (_runningGate)
        {
            _running.Add(job);
        }
        if (_shutdownDeadline.IsCancellationRequested)
        {
            job.Cancel();
        }
        return new ContinuousRequest(job.Plan, result => Done(job, result))
        {
            OnStep = job.Steps is null ? null : job.PublishStep,
            OnStarted = batchSize =>
            {
                job.MarkStarted(batchSize);
                metrics.QueueWait.Observe(Stopwatch.GetElapsedTime(job.AcceptedTimestamp, job.StartedTimestamp).TotalSeconds);
            },
        };
    }

    /// <summary>Every forward pass: how many sequences share it.</summary>
    private void ObservePass(int sequences)
    {
        metrics.BatchSize.Observe(sequences);
        if (sequences > metrics.BatchSizeMax.Value)
        {
            metrics.BatchSizeMax.Set(sequences);
        }
        metrics.RunningSequences.Set(sequences);
    }

    private void Done(GenerationJob job, GenerationResult result)
    {
        int left;
        lock (_runningGate)
        {
            _running.Remove(job);
            left = _running.Count;
        }
        metrics.RunningSequences.Set(left);
        FinishWithResult(job, result);
    }

    private void FinishWithResult(GenerationJob job, GenerationResult result)
    {
        if (result.Cancelled)
        {
            metrics.Cancelled.WithLabels("running").Inc();
            job.Complete(JobOutcome.CancelledOutcome);
            return;
        }
        GenerationStats s = result.Stats;
        int passes = s.TotalPasses;
        int responseTokens = result.AnswerLength;
        metrics.ForwardPassesPerRequest.Observe(passes);
        if (passes > 0)
        {
            metrics.TokensPerForwardPass.Observe((double)responseTokens / passes);
        }
        metrics.Edits.WithLabels("replace").Inc(s.Edits.Replaced);
        metrics.Edits.WithLabels("delete").Inc(s.Edits.Deleted);
        metrics.Edits.WithLabels("insert").Inc(s.Edits.Inserted);
        metrics.EditRoundsSaved.Inc(s.EditRoundsSaved);
        metrics.CompletionTokens.Inc(responseTokens);
        metrics.PromptTokens.Inc(s.PromptTokens);
        job.Complete(new JobOutcome(JobOutcomeKind.Completed, result, null));
    }

    private static void Finish(GenerationJob job, JobOutcome outcome) => job.Complete(outcome);

    public override void Dispose()
    {
        _shutdownDeadline.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: intake stopped, {Queued} sequences queued; work left after {TimeoutSeconds} s is cancelled")]
    private static partial void LogShuttingDown(ILogger logger, int queued, int timeoutSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown timeout passed: cancelling the {Count} sequences of the running batch")]
    private static partial void LogCancellingAtDeadline(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduler drained: no work left")]
    private static partial void LogDrained(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Continuous run of {Count} sequences done in {Milliseconds:F1} ms")]
    private static partial void LogBatchDone(ILogger logger, int count, double milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} failed")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);
}
