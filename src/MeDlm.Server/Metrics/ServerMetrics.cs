using Prometheus;

namespace MeDlm.Server.Metrics;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (not prometheus-net's static default) so
/// that each server instance, in tests several per process, counts only its own traffic. Process and
/// runtime metrics (memory, GC, CPU) are registered alongside.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    /// <summary>Creates the collectors in a new registry.</summary>
    public ServerMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);

        RequestDuration = f.CreateHistogram("medlm_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            new HistogramConfiguration { LabelNames = ["endpoint", "status"], Buckets = SecondsBuckets });
        TimeToFirstChunk = f.CreateHistogram("medlm_time_to_first_chunk_seconds",
            "Streaming: time from a request's arrival to its first chunk.",
            new HistogramConfiguration { LabelNames = ["endpoint"], Buckets = SecondsBuckets });
        QueueWait = f.CreateHistogram("medlm_queue_wait_seconds",
            "Time a sequence waited in the queue before its batch started.",
            new HistogramConfiguration { Buckets = SecondsBuckets });
        ForwardPassesPerRequest = f.CreateHistogram("medlm_forward_passes_per_sequence",
            "Forward passes one sequence took part in (mask steps + edit rounds).",
            new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 48, 64, 128, 256, 512, 1024] });
        TokensPerForwardPass = f.CreateHistogram("medlm_tokens_per_forward_pass",
            "Response tokens of a sequence divided by its forward passes.",
            new HistogramConfiguration { Buckets = [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 16, 32] });
        Edits = f.CreateCounter("medlm_edits_total",
            "Edits applied by the edit rounds, by kind.",
            new CounterConfiguration { LabelNames = ["kind"] });
        EditRoundsSaved = f.CreateCounter("medlm_edit_rounds_saved_total",
            "Edit rounds planned but not run because the sequence reached its fixed point.");
        CompletionTokens = f.CreateCounter("medlm_completion_tokens_total", "Response tokens generated.");
        PromptTokens = f.CreateCounter("medlm_prompt_tokens_total", "Prompt tokens read.");
        QueueDepth = f.CreateGauge("medlm_queue_depth", "Sequences waiting for a batch.");
        BatchSize = f.CreateHistogram("medlm_batch_size",
            "Sequences in each forward pass of the running lockstep batch.",
            new HistogramConfiguration { Buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256] });
        BatchSizeMax = f.CreateGauge("medlm_batch_size_max", "Most sequences in one forward pass since the start.");
        RunningSequences = f.CreateGauge("medlm_running_sequences", "Sequences in the batch running now.");
        Rejected = f.CreateCounter("medlm_requests_rejected_total",
            "Requests refused before generation, by reason.",
            new CounterConfiguration { LabelNames = ["reason"] });
        Cancelled = f.CreateCounter("medlm_requests_cancelled_total",
            "Sequences cancelled (client gone or shutdown), by where they were.",
            new CounterConfiguration { LabelNames = ["stage"] });
        ModelReady = f.CreateGauge("medlm_model_ready", "1 when the model is loaded and warmed up.");
    }

    /// <summary>The registry <c>/metrics</c> exports.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Request duration by endpoint and status code.</summary>
    public Histogram RequestDuration { get; }

    /// <summary>Time to the first streamed chunk.</summary>
    public Histogram TimeToFirstChunk { get; }

    /// <summary>Queue wait per sequence.</summary>
    public Histogram QueueWait { get; }

    /// <summary>Forward passes per sequence.</summary>
    public Histogram ForwardPassesPerRequest { get; }

    /// <summary>Response tokens per forward pass, per sequence.</summary>
    public Histogram TokensPerForwardPass { get; }

    /// <summary>Edits by kind (<c>replace</c>, <c>delete</c>, <c>insert</c>).</summary>
    public Counter Edits { get; }

    /// <summary>Edit rounds saved by the fixed-point stop.</summary>
    public Counter EditRoundsSaved { get; }

    /// <summary>Response tokens.</summary>
    public Counter CompletionTokens { get; }

    /// <summary>Prompt tokens.</summary>
    public Counter PromptTokens { get; }

    /// <summary>Queued sequences.</summary>
    public Gauge QueueDepth { get; }

    /// <summary>Batch sizes run.</summary>
    public Histogram BatchSize { get; }

    /// <summary>The largest batch run.</summary>
    public Gauge BatchSizeMax { get; }

    /// <summary>Sequences running now.</summary>
    public Gauge RunningSequences { get; }

    /// <summary>Refused requests by reason (<c>queue_full</c>, <c>invalid</c>, <c>unauthorized</c>, <c>not_ready</c>, <c>shutting_down</c>).</summary>
    public Counter Rejected { get; }

    /// <summary>Cancelled sequences by stage (<c>queued</c>, <c>running</c>).</summary>
    public Counter Cancelled { get; }

    /// <summary>Readiness as a gauge.</summary>
    public Gauge ModelReady { get; }
}
