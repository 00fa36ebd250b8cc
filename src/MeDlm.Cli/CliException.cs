namespace MeDlm.Cli;

/// <summary>Exit codes of <c>medlm</c>.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int RuntimeError = 1;
    public const int UsageError = 2;
    public const int Cancelled = 130;
}

/// <summary>An error the tool reports as one line on stderr and an exit code (no stack trace).</summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public CliException()
        : this("medlm failed", ExitCodes.RuntimeError)
    {
    }

    public CliException(string message)
        : this(message, ExitCodes.RuntimeError)
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException)
    {
        ExitCode = ExitCodes.RuntimeError;
    }

    public int ExitCode { get; }

    public static CliException Usage(string message) => new(message, ExitCodes.UsageError);
}
