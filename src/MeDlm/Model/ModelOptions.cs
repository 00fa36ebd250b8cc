using MeDlm.Sessions;
using Microsoft.Extensions.Logging;

namespace MeDlm.Model;

/// <summary>How a model package is loaded and run.</summary>
public sealed class ModelOptions
{
    /// <summary>The execution provider; default <see cref="Sessions.ExecutionProvider.Cpu"/>.</summary>
    public ExecutionProvider ExecutionProvider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>CUDA device ordinal for <see cref="Sessions.ExecutionProvider.Cuda"/> / <see cref="Sessions.ExecutionProvider.Auto"/>.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>Threads inside one operator; 0 = one per processor available to the process (<see cref="Environment.ProcessorCount"/>, which honours CPU affinity and container quotas).</summary>
    public int IntraOpNumThreads { get; init; }

    /// <summary>Threads across independent operators; 0 lets ONNX Runtime choose.</summary>
    public int InterOpNumThreads { get; init; }

    /// <summary>CUDA: the most GPU memory ONNX Runtime's arena may take, in bytes; 0 = no limit.</summary>
    public long GpuMemoryLimitBytes { get; init; }

    /// <summary>CUDA: allow TF32 matrix products (faster, but fp32 results no longer match the CPU's); default off.</summary>
    public bool CudaUseTf32 { get; init; }

    /// <summary>CUDA: grow the memory arena by what is requested (default) rather than by powers of two.</summary>
    public bool CudaArenaSameAsRequested { get; init; } = true;

    /// <summary>
    /// CUDA: intra-op threads of the CUDA sessions (the CPU only launches kernels there); 0 = 1 unless
    /// <see cref="IntraOpNumThreads"/> is set.
    /// </summary>
    public int CudaIntraOpThreads { get; init; }

    /// <summary>
    /// Shape buckets: each pass's canvas length is padded up to a multiple of this (capped at the model's
    /// max_sequence_length) and its batch to 1, 2, 4, 8 and then multiples of 8, with attention-mask-0
    /// rows and columns, so that edit rounds (whose lengths move by a few tokens) reuse a few shapes, their
    /// bindings and, on CUDA, their kernel plans; 0 or 1 = off (exact shapes). Tokens are the same either way:
    /// the graphs mask padded keys and padded rows are never read. Null (the default): 64 on CUDA, exact
    /// shapes on the CPU (there padding is compute spent for nothing: the CPU provider keeps no per-shape
    /// plans, and the runner keeps the bindings of the shapes it has seen).
    /// </summary>
    public int? ShapeBucket { get; init; }

    /// <summary>The bucket length that a null <see cref="ShapeBucket"/> means on CUDA.</summary>
    public const int DefaultCudaShapeBucket = 64;

    /// <summary>
    /// CUDA: host buffers that ONNX Runtime copies to and from the device (inputs, and the outputs that come
    /// back) are page-locked (ONNX Runtime's CudaPinned allocator) rather than pinned managed arrays, which
    /// are pageable to CUDA. Default on.
    /// </summary>
    public bool CudaPinnedHostMemory { get; init; } = true;

    /// <summary>
    /// CUDA: the denoiser and edit head share one device memory arena, registered once per device in the
    /// ONNX Runtime environment (session entry session.use_env_allocators), instead of one arena each. Default on.
    /// </summary>
    public bool CudaSharedAllocator { get; init; } = true;

    /// <summary>
    /// CUDA: capture each bucket's pass as a CUDA graph and replay it (provider option enable_cuda_graph, one
    /// gpu_graph_id per bound shape; inputs and outputs then live in fixed device buffers copied each pass).
    /// Needs every node on CUDA and <see cref="ShapeBucket"/> on. Default off.
    /// </summary>
    public bool CudaGraphs { get; init; }

    /// <summary>
    /// CUDA: refuse a package whose graphs output full-vocabulary logits (instead of loading it with one
    /// warning): every pass would copy vocab-wide rows to the host. Default off.
    /// </summary>
    public bool RequireReducedOutputsOnCuda { get; init; }

    /// <summary>Receives the provider fallback line and load information; null logs nothing.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The intra-op pool size of a CUDA session, when it differs from the CPU's choice.</summary>
    internal bool CudaIntraOpNumThreads(out int threads)
    {
        threads = CudaIntraOpThreads > 0 ? CudaIntraOpThreads : IntraOpNumThreads > 0 ? IntraOpNumThreads : 1;
        return true;
    }

    /// <summary>The largest <see cref="ShapeBucket"/> accepted.</summary>
    public const int MaxShapeBucket = 4096;

    /// <summary>Whether passes are padded to shape buckets.</summary>
    internal int EffectiveShapeBucket(ExecutionProvider provider) =>
        ShapeBucket ?? (provider == ExecutionProvider.Cuda ? DefaultCudaShapeBucket : 1);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(CudaDeviceId);
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpNumThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(InterOpNumThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(GpuMemoryLimitBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(CudaIntraOpThreads);
        if (ShapeBucket is < 0 or > MaxShapeBucket)
        {
            throw new ArgumentOutOfRangeException(nameof(ShapeBucket), ShapeBucket,
                $"The shape bucket must be 0 or 1 (off) or a length up to {MaxShapeBucket}.");
        }
        if (CudaGraphs && ShapeBucket is <= 1)
        {
            throw new ArgumentException("CudaGraphs needs shape buckets (ShapeBucket null or above 1): a graph is captured per bound shape.", nameof(CudaGraphs));
        }
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        }
    }
}
