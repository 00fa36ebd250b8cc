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

    /// <summary>Receives the provider fallback line and load information; null logs nothing.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The intra-op pool size of a CUDA session, when it differs from the CPU's choice.</summary>
    internal bool CudaIntraOpNumThreads(out int threads)
    {
        threads = CudaIntraOpThreads > 0 ? CudaIntraOpThreads : IntraOpNumThreads > 0 ? IntraOpNumThreads : 1;
        return true;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(CudaDeviceId);
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpNumThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(InterOpNumThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(GpuMemoryLimitBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(CudaIntraOpThreads);
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        }
    }
}
