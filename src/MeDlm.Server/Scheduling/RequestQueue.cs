using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace MeDlm.Server.Scheduling;

/// <summary>Why a request was not queued.</summary>
public enum EnqueueResult
{
    /// <summary>Queued.</summary>
    Accepted,

    /// <summary>The queue has no room: answer 429.</summary>
    Full,

    /// <summary>The server is shutting down: answer 503.</summary>
    Closed,
}

/// <summary>
/// The bounded queue between the endpoints and the <see cref="BatchScheduler"/>. A request's jobs (one
/// per choice) enter together or not at all, so a 429 leaves nothing behind.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "It is the request queue.")]
public sealed class RequestQueue
{
    private readonly Channel<GenerationJob> _channel;
    private readonly Lock _gate = new();
    private readonly ServerMetrics _metrics;
    private int _count;
    private bool _closed;

    /// <summary>Creates the queue with the configured capacity.</summary>
    public RequestQueue(IOptions<SchedulerOptions> options, ServerMetrics metrics)
    {
        Capacity = options.Value.QueueCapacity;
        _metrics = metrics;
        // The channel's own bound is the same capacity; the count kept here makes multi-job admission atomic.
        _channel = Channel.CreateBounded<GenerationJob>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Most sequences that may wait.</summary>
    public int Capacity { get; }

    /// <summary>Sequences waiting now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether intake has stopped (shutdown).</summary>
    public bool IsClosed
    {
        get
        {
            lock (_gate)
            {
                return _closed;
            }
        }
    }

    /// <summary>The scheduler's end of the queue.</summary>
    internal ChannelReader<GenerationJob> Reader => _channel.Reader;

    /// <summary>Queues all of <paramref name="jobs"/>, or none of them.</summary>
    public EnqueueResult TryEnqueue(IReadOnlyList<GenerationJob> jobs)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        lock (_gate)
        {
            if (_closed)
            {
                return EnqueueResult.Closed;
            }
            if (_count + jobs.Count > Capacity)
            {
                return EnqueueResult.Full;
            }
            foreach (GenerationJob job in jobs)
            {
                // Cannot fail: the count is below the channel's bound and only this lock writes.
                if (!_channel.Writer.TryWrite(job))
                {
                    throw new InvalidOperationException("The request queue refused a job below its capacity.");
                }
                _count++;
            }
            _metrics.QueueDepth.Set(_count);
            return EnqueueResult.Accepted;
        }
    }

    /// <summary>Called by the scheduler for each job it takes out.</summary>
    internal void OnDequeued()
    {
        lock (_gate)
        {
            _count--;
            _metrics.QueueDepth.Set(_count);
        }
    }

    /// <summary>Stops intake; the scheduler drains what is queued and then ends.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            _channel.Writer.TryComplete();
        }
    }
}
