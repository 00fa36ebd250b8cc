using Microsoft.Extensions.Logging;

namespace MeDlm.Cli;

/// <summary>Writes the runtime's log lines (the CUDA fallback warning, load details with --verbose) to stderr.</summary>
internal sealed class StderrLogger(LogLevel minimum) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (!IsEnabled(logLevel))
        {
            return;
        }
        string level = logLevel >= LogLevel.Warning ? "warning" : "info";
        Console.Error.WriteLine($"medlm: {level}: {formatter(state, exception)}");
    }
}
