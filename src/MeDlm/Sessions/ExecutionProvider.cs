namespace MeDlm.Sessions;

/// <summary>Where ONNX Runtime runs the graphs.</summary>
public enum ExecutionProvider
{
    /// <summary>The CPU provider.</summary>
    Cpu,

    /// <summary>The CUDA provider; loading fails with a clear error if it cannot be created.</summary>
    Cuda,

    /// <summary>CUDA when it can be created, else the CPU with one log line saying why.</summary>
    Auto,
}

/// <summary>Parsing of <see cref="ExecutionProvider"/> names (<c>cpu</c>, <c>cuda</c>, <c>auto</c>).</summary>
public static class ExecutionProviders
{
    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>auto</c> (case-insensitive).</summary>
    public static bool TryParse(string? name, out ExecutionProvider provider)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "cpu":
                provider = ExecutionProvider.Cpu;
                return true;
            case "cuda" or "gpu":
                provider = ExecutionProvider.Cuda;
                return true;
            case "auto":
                provider = ExecutionProvider.Auto;
                return true;
            default:
                provider = default;
                return false;
        }
    }
}
