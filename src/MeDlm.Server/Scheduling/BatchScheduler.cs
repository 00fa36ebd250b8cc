using System.Diagnostics;
using System.Threading.Channels;
using MeDlm.Generation;
using MeDlm.Server.Hosting;
using MeDlm.Server.Metrics;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Scheduling;

/// <summary>
/// Takes jobs from the <see cref="RequestQueue"/> in arrival order and runs them in lockstep batches on
/// the model's generator, one batch at a time (a batch already uses every core, or the GPU). A batch
/// gathers consecutive jobs of similar length (planned forward passes within a factor of two, so that a
/// short request does not hold the model for a long one's passes) up to the batch size, waiting at most
/// the batch window for companions. On shutdown it drains the queue and the running batch, and cancels
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
    private List<GenerationJob>? _running;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration onStopping = lifetime.ApplicationStopping.Register(BeginShutdown);
        // Also when the host stops without ApplicationStopping (a failed start): end the loop.
        using CancellationTokenRegistration onStop = stoppingToken.Register(BeginShutdown);
        using CancellationTokenRegistration onDeadline = _shutdownDeadline.Token.Register(CancelRunning);

        ChannelReader<GenerationJob> reader = queue.Reader;
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            List<GenerationJob> batch = [];
            try
            {
                batch = await CollectBatchAsync(reader).ConfigureAwait(false);
                if (batch.Count > 0)
                {
                    await RunBatchAsync(batch).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The loop must outlive any one batch: fail its jobs and go on.
                LogBatchFailed(logger, e, batch.Count);
                foreach (GenerationJob job in batch)
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
        lock (_runningGate)
        {
            if (_running is { } running)
            {
                LogCancellingAtDeadline(logger, running.Count);
                foreach (GenerationJob job in running)
                {
                    job.Cancel();
                }
            }
        }
    }

    /// <summary>The next batch: the first waiting job and the compatible jobs right behind it.</summary>
    private async Task<List<GenerationJob>> CollectBatchAsync(ChannelReader<GenerationJob> reader)
    {
        var batch = new List<GenerationJob>(_options.MaxBatchSize);
        int bucket = -1;
        long deadline = 0;
        while (batch.Count < _options.MaxBatchSize)
        {
            if (reader.TryPeek(out GenerationJob? next))
            {
                if (SkipIfCancelled(next, reader))
                {
                    continue;
                }
                int nextBucket = LengthBucket(next.PlannedPasses);
                if (batch.Count > 0 && nextBucket != bucket)
                {
                    break;
                }
                reader.TryRead(out _);
                queue.OnDequeued();
                if (batch.Count == 0)
                {
                    bucket = nextBucket;
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

    /// <summary>Requests whose planned passes are within a factor of two share a bucket.</summary>
    internal static int LengthBucket(int plannedPasses) => plannedPasses <= 1 ? 0 : 32 - int.LeadingZeroCount(plannedPasses - 1);

    private async Task RunBatchAsync(List<GenerationJob> batch)
    {
        LoadedModel model = host.Model ?? throw new InvalidOperationException("A job was queued before the model was ready.");
        foreach (GenerationJob job in batch)
        {
            job.MarkStarted(batch.Count);
            metrics.QueueWait.Observe(Stopwatch.GetElapsedTime(job.AcceptedTimestamp, job.StartedTimestamp).TotalSeconds);
        }
        metrics.BatchSize.Observe(batch.Count);
        if (batch.Count > metrics.BatchSizeMax.Value)
        {
            metrics.BatchSizeMax.Set(batch.Count);
        }
        metrics.RunningSequences.Set(batch.Count);
        lock (_runningGate)
        {
            _running = batch;
        }
        if (_shutdownDeadline.IsCancellationRequested)
        {
            CancelRunning();
        }
        long started = Stopwatch.GetTimestamp();
        try
        {
            await RunOnGeneratorAsync(model.Generator, batch).ConfigureAwait(false);
        }
        catch (ArgumentException) when (batch.Count > 1)
        {
            // One request the generator refuses must not fail its companions: run each alone.
            foreach (GenerationJob job in batch)
            {
                if (!job.Completed.IsCompleted)
                {
                    await RunAloneAsync(model.Generator, job).ConfigureAwait(false);
                }
            }
        }
        catch (ArgumentException e)
        {
            Finish(batch[0], new JobOutcome(JobOutcomeKind.Rejected, null, e.Message));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogBatchFailed(logger, e, batch.Count);
            foreach (GenerationJob job in batch)
            {
                Finish(job, new JobOutcome(JobOutcomeKind.Failed, null, "The model failed to generate: " + e.Message));
            }
        }
        finally
        {
            lock (_runningGate)
            {
                _running = null;
            }
            metrics.RunningSequences.Set(0);
        }
        double milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        LogBatchDone(logger, batch.Count, milliseconds);
    }

    private async Task RunAloneAsync(Generator generator, GenerationJob job)
    {
        try
        {
            await RunOnGeneratorAsync(generator, [job]).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            Finish(job, new JobOutcome(JobOutcomeKind.Rejected, null, e.Message));
        }
    }

    /// <summary>
    /// Runs the batch; when any client watches the denoising, through the generator's step stream, whose
    /// steps go to the jobs that asked. A cancelled job's row leaves at the next step (its token is on its
    /// request); the batch itself is never cancelled, so its other rows finish.
    /// </summary>
    private async Task RunOnGeneratorAsync(Generator generator, List<GenerationJob> batch)
    {
        var requests = new GenerationRequest[batch.Count];
        bool anyWatches = false;
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = batch[i].Request;
            anyWatches |= batch[i].Steps is not null;
        }
        if (!anyWatches)
        {
            // A batch blocks its thread for its whole run: a dedicated thread, not one of the pool's few,
            // so that request handlers (streams, disconnect detection) keep running meanwhile.
            IReadOnlyList<GenerationResult> results = await Task.Factory.StartNew(() => generator.GenerateBatch(requests),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            for (int i = 0; i < results.Count; i++)
            {
                FinishWithResult(batch[i], results[i]);
            }
            return;
        }
        await foreach (GenerationStep step in generator.GenerateBatchStreamingAsync(requests).ConfigureAwait(false))
        {
            GenerationJob job = batch[step.RequestIndex];
            job.PublishStep(step);
            if (step.Result is { } result)
            {
                FinishWithResult(job, result);
            }
        }
        // A row cancelled between steps ends without a final step.
        foreach (GenerationJob job in batch)
        {
            if (!job.Completed.IsCompleted)
            {
                metrics.Cancelled.WithLabels("running").Inc();
                job.Complete(JobOutcome.CancelledOutcome);
            }
        }
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
        int responseTokens = ResponseTokenCount(result, host.Model!.Package.Manifest.SpecialTokens);
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

    /// <summary>Tokens of the response up to its end marker: what usage reports as completion tokens.</summary>
    internal static int ResponseTokenCount(GenerationResult result, MeDlm.Model.SpecialTokens special) => AnswerText.ResponseLength(result, special);

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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Batch of {Count} done in {Milliseconds:F1} ms")]
    private static partial void LogBatchDone(ILogger logger, int count, double milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} failed")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);
}
