using System.Runtime.InteropServices;

namespace MeDlm.Sessions;

/// <summary>What a CUDA-side error from ONNX Runtime means for the caller.</summary>
internal enum CudaFailureKind
{
    /// <summary>Not a CUDA problem (a bad graph, a bad input): the same error would occur on the CPU.</summary>
    NotCuda,

    /// <summary>CUDA cannot be used here at all (libraries, driver or device missing): auto mode may fall back to the CPU.</summary>
    Unavailable,

    /// <summary>The GPU ran out of memory: the model does not fit, which the CPU fallback would only hide.</summary>
    OutOfMemory,

    /// <summary>The CUDA provider has no kernels for this GPU's architecture.</summary>
    UnsupportedArchitecture,

    /// <summary>Another CUDA, cuBLAS or cuDNN error.</summary>
    OtherCuda,
}

/// <summary>
/// Classifies ONNX Runtime's CUDA error messages (CUDA_CALL's "CUDA failure N: text", the BFC arena's
/// allocation failure, cuBLAS / cuDNN status names, the provider bridge's library load errors) and names a
/// missing CUDA library by its soname.
/// </summary>
internal static class CudaFailure
{
    private static readonly string[] OutOfMemoryMarks =
    [
        "out of memory", "Failed to allocate memory", "ALLOC_FAILED", "cudaErrorMemoryAllocation", "std::bad_alloc",
        "CUDA_ERROR_OUT_OF_MEMORY",
    ];

    private static readonly string[] ArchitectureMarks =
    [
        "no kernel image is available", "cudaErrorNoKernelImageForDevice", "CUDA_ERROR_NO_BINARY_FOR_GPU",
        "invalid device function", "cudaErrorInvalidDeviceFunction",
    ];

    private static readonly string[] UnavailableMarks =
    [
        "Failed to load shared library", "Failed to load library", "cannot open shared object file",
        "no CUDA-capable device", "cudaErrorNoDevice", "CUDA driver version is insufficient", "cudaErrorInsufficientDriver",
        "forward compatibility was attempted", "system has unsupported display driver", "CUDA_ERROR_NO_DEVICE",
        "CUDAExecutionProvider is not available", "not enabled in this build",
    ];

    private static readonly string[] CudaMarks = ["CUDA", "cudnn", "cublas", "cufft", "curand", "cudart"];

    /// <summary>The kind of <paramref name="message"/>; out-of-memory and architecture errors win over the rest.</summary>
    public static CudaFailureKind Classify(string message)
    {
        if (ContainsAny(message, OutOfMemoryMarks))
        {
            return CudaFailureKind.OutOfMemory;
        }
        if (ContainsAny(message, ArchitectureMarks))
        {
            return CudaFailureKind.UnsupportedArchitecture;
        }
        if (ContainsAny(message, UnavailableMarks))
        {
            return CudaFailureKind.Unavailable;
        }
        return ContainsAny(message, CudaMarks) ? CudaFailureKind.OtherCuda : CudaFailureKind.NotCuda;
    }

    /// <summary>
    /// The soname in a loader message such as "libcublasLt.so.13: cannot open shared object file", else null.
    /// </summary>
    public static string? MissingLibrary(string message)
    {
        const string Mark = ": cannot open shared object file";
        int end = message.IndexOf(Mark, StringComparison.Ordinal);
        if (end <= 0)
        {
            return null;
        }
        int start = end;
        while (start > 0 && !char.IsWhiteSpace(message[start - 1]) && message[start - 1] is not ':' and not '\'' and not '"' and not '(')
        {
            start--;
        }
        string name = message[start..end];
        return name.Contains(".so", StringComparison.Ordinal) ? name : null;
    }

    /// <summary>
    /// Why the CUDA provider library cannot be loaded, from the dynamic loader itself (ONNX Runtime's own
    /// exception only says "Failed to load shared library" and logs the soname). Null when it loads or
    /// is not found next to ONNX Runtime.
    /// </summary>
    public static string? ProbeProviderLibrary()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        foreach (string dir in (string[])[AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")])
        {
            string path = Path.Combine(dir, "libonnxruntime_providers_cuda.so");
            if (!File.Exists(path))
            {
                continue;
            }
            try
            {
                // Loading it only resolves its NEEDED libraries; ONNX Runtime loads it again by path (a no-op then).
                NativeLibrary.Load(path);
                return null;
            }
            catch (DllNotFoundException e)
            {
                return e.Message;
            }
            catch (BadImageFormatException e)
            {
                return e.Message;
            }
        }
        return null;
    }

    /// <summary>One line describing a provider that cannot be created, naming a missing library by its soname.</summary>
    public static string DescribeUnavailable(string ortMessage)
    {
        string? soname = MissingLibrary(ortMessage);
        if (soname is null && ProbeProviderLibrary() is { } loader)
        {
            soname = MissingLibrary(loader);
        }
        return soname is null ? ortMessage : $"{soname} cannot be loaded (not installed or not on LD_LIBRARY_PATH); {ortMessage}";
    }

    private static bool ContainsAny(string message, string[] marks)
    {
        foreach (string mark in marks)
        {
            if (message.Contains(mark, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}
