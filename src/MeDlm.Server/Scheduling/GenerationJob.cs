using System.Diagnostics;
using System.Threading.Channels;

namespace MeDlm.Server.Scheduling;

/// <summary>How a job ended.</summary>
public enum JobOutcomeKind
{
    /// <summary>Generated; <see cref="JobOutcome.Result"/> is set.</summary>
    Completed,

    /// <summary>Cancelled: the client went away or the shutdown timeout passed.</summary>
    Cancelled,

    /// <summary>The model failed.</summary>
    Failed,
}

/// <summary>The end of a job.</summary>
public sealed record JobOutcome(JobOutcomeKind Kind, GenerationResult? Result, string? Error)
{
    /// <summary>A cancelled job.</summary>
    public static JobOutcome CancelledOutcome { get; } = new(JobOutcomeKind.Cancelled, null, "The request was cancelled.");
}

/// <summary>
/// One sequence to generate: a choice of a request. Created by an endpoint after every check, queued,
/// run in a batch by the <see cref="BatchScheduler"/>, and awaited by the endpoint. Its cancellation
/// follows the client's connection and the server's shutdown.
/// </summary>
public sealed class GenerationJob : IDisposable
{
    private readonly CancellationTokenSource _cancellation;
    private readonly CancellationToken _cancellationToken;
    private readonly TaskCompletionSource<int> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<JobOutcome> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Channel<GenerationStep>? _steps;

    /// <summary>
    /// Creates a job for a checked <paramref name="plan"/> whose cancellation follows <paramref name="requestAborted"/>;
    /// the plan carries the job's own token: the generator checks it before every step, so a cancelled
    /// sequence leaves its batch while the others go on.
    /// </summary>
    public GenerationJob(string requestId, int choiceIndex, GenerationPlan plan, bool streamSteps, CancellationToken requestAborted)
    {
        ArgumentNullException.ThrowIfNull(plan);
        RequestId = requestId;
        ChoiceIndex = choiceIndex;
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        // Kept as a value: it stays readable after the source is released.
        _cancellationToken = _cancellation.Token;
        Plan = plan.WithCancellation(_cancellationToken);
        if (streamSteps)
        {
            // Unbounded: the batch must never wait for a slow reader; a sequence has at most MaxSteps steps.
            _steps = Channel.CreateUnbounded<GenerationStep>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        }
        AcceptedTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>The HTTP request this job belongs to.</summary>
    public string RequestId { get; }

    /// <summary>The choice index within the request.</summary>
    public int ChoiceIndex { get; }

    /// <summary>What to generate (with this job's cancellation token).</summary>
    public GenerationPlan Plan { get; }

    /// <summary>When the job was accepted.</summary>
    public long AcceptedTimestamp { get; }

    /// <summary>When it joined the running batch (0 before).</summary>
    public long StartedTimestamp { get; private set; }

    /// <summary>When it ended (0 before).</summary>
    public long FinishedTimestamp { get; private set; }

    /// <summary>The size of the running batch when it joined, itself included.</summary>
    public int BatchSize { get; private set; }

    /// <summary>Cancelled by the client, the shutdown or <see cref="Cancel"/>.</summary>
    public CancellationToken Cancellation => _cancellationToken;

    /// <summary>The batch started; the value is its size.</summary>
    public Task<int> Started => _started.Task;

    /// <summary>The job's end; never faults.</summary>
    public Task<JobOutcome> Completed => _completed.Task;

    /// <summary>Each step of the denoising, when the client asked to see it; completes with the job.</summary>
    public ChannelReader<GenerationStep>? Steps => _steps?.Reader;

    /// <summary>Cancels the job (its row leaves the batch at the next step).</summary>
    public void Cancel()
    {
        try
        {
            _cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished and released.
        }
    }

    internal void MarkStarted(int batchSize)
    {
        BatchSize = batchSize;
        StartedTimestamp = Stopwatch.GetTimestamp();
        _started.TrySetResult(batchSize);
    }

    internal void PublishStep(GenerationStep step) => _steps?.Writer.TryWrite(step);

    /// <summary>Ends the job (once; later calls do nothing) and releases its cancellation source.</summary>
    internal bool Complete(JobOutcome outcome)
    {
        if (_completed.Task.IsCompleted)
        {
            return false;
        }
        FinishedTimestamp = Stopwatch.GetTimestamp();
        _steps?.Writer.TryComplete();
        // A job cancelled in the queue never starts: release waiters on Started too.
        _started.TrySetResult(0);
        bool first = _completed.TrySetResult(outcome);
        Dispose();
        return first;
    }

    /// <summary>
    /// Releases the cancellation source. <see cref="Complete"/> does it for a queued job; the endpoint
    /// does it only for a job that never entered the queue.
    /// </summary>
    public void Dispose() => _cancellation.Dispose();
}
