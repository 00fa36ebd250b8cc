namespace MeDlm.Server.Hosting;

/// <summary>Which model is served and how it runs (configuration section <c>Model</c>).</summary>
public sealed class ModelServingOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Model";

    /// <summary>
    /// The model package folder. A relative path is looked up from the current directory, then from the
    /// application's directory (where a published build carries the bundled model).
    /// </summary>
    public string Path { get; set; } = "onnx/medlm-tiny";

    /// <summary>The id clients name in <c>model</c>; empty serves the manifest's name.</summary>
    public string Id { get; set; } = "";

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>auto</c> (CUDA when it can start, else the CPU).</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>CUDA device ordinal.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>Threads inside one ONNX Runtime operator; 0 = one per processor available to the process.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Threads across independent operators; 0 lets ONNX Runtime choose.</summary>
    public int InterOpThreads { get; set; }

    // GPU (CUDA) settings.

    /// <summary>CUDA: the most GPU memory ONNX Runtime may take, in bytes; 0 = no limit.</summary>
    public long GpuMemoryLimitBytes { get; set; }

    /// <summary>CUDA: allow TF32 matrix products (faster; fp32 results then differ from the CPU's).</summary>
    public bool CudaUseTf32 { get; set; }

    /// <summary>CUDA: intra-op threads of the CUDA sessions; 0 = 1 unless IntraOpThreads is set.</summary>
    public int CudaIntraOpThreads { get; set; }

    /// <summary>Shape buckets: pad each pass's length to a multiple of this and its batch to 1/2/4/8/8k rows (0 or 1: exact shapes; unset: 64 on CUDA, exact on the CPU).</summary>
    public int? ShapeBucket { get; set; }

    /// <summary>CUDA: page-locked host buffers for what is copied to and from the device.</summary>
    public bool CudaPinnedHostMemory { get; set; } = true;

    /// <summary>CUDA: one device memory arena shared by the denoiser and the edit head.</summary>
    public bool CudaSharedAllocator { get; set; } = true;

    /// <summary>CUDA: capture and replay a CUDA graph per bound shape (needs ShapeBucket above 1).</summary>
    public bool CudaGraphs { get; set; }

    /// <summary>CUDA: refuse a package whose graphs output full-vocabulary logits (default: load it with a warning).</summary>
    public bool RequireReducedOutputsOnCuda { get; set; }
}

/// <summary>Bounds on what one request may ask for (configuration section <c>Limits</c>).</summary>
public sealed class RequestLimitsOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Limits";

    /// <summary>Largest request body; larger bodies are answered 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary>Longest prompt in tokens (the model's context bounds it too).</summary>
    public int MaxPromptTokens { get; set; } = 4096;

    /// <summary>Largest <c>max_tokens</c> (generation length).</summary>
    public int MaxGenLength { get; set; } = 1024;

    /// <summary>Most forward passes one sequence may ask for (mask steps + edit rounds).</summary>
    public int MaxSteps { get; set; } = 1024;

    /// <summary>Most prompts in one <c>/v1/completions</c> request (each is one choice).</summary>
    public int MaxPromptsPerRequest { get; set; } = 8;

    /// <summary>Most stop sequences (OpenAI allows 4).</summary>
    public int MaxStopSequences { get; set; } = 4;
}

/// <summary>The batching scheduler (configuration section <c>Scheduler</c>).</summary>
public sealed class SchedulerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Scheduler";

    /// <summary>Most sequences run in one lockstep batch.</summary>
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>How long the first request of a batch waits for companions, in milliseconds.</summary>
    public int BatchWindowMilliseconds { get; set; } = 5;

    /// <summary>Sequences that may wait for a batch; beyond it requests are answered 429.</summary>
    public int QueueCapacity { get; set; } = 128;

    /// <summary>The Retry-After a 429 or 503 carries, in seconds.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>On SIGTERM: how long queued and running work may take to finish before it is cancelled.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 30;
}

/// <summary>Access control (configuration section <c>Auth</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Auth";

    /// <summary>When set, every <c>/v1</c> route requires <c>Authorization: Bearer &lt;ApiKey&gt;</c>.</summary>
    public string? ApiKey { get; set; }
}

/// <summary>The browser playground at <c>GET /</c> (configuration section <c>Playground</c>).</summary>
public sealed class PlaygroundOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Playground";

    /// <summary>
    /// Serve the page: true or false; unset serves it only while every listening address is a loopback
    /// address, so an exposed server shows no page unless asked to.
    /// </summary>
    public bool? Enabled { get; set; }
}
