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

    /// <summary>Receives the provider fallback line and load information; null logs nothing.</summary>
    public ILogger? Logger { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(CudaDeviceId);
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpNumThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(InterOpNumThreads);
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        }
    }
}
