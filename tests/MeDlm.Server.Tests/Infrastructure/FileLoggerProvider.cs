using Microsoft.Extensions.Logging;

namespace MeDlm.Server.Tests.Infrastructure;

/// <summary>
/// Appends the in-process servers' logs to the file named by MEDLM_TEST_SERVER_LOG, for diagnosing a
/// failing test (xunit does not show console output).
/// </summary>
public sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private readonly Lock _gate = new();

    /// <summary>The provider when MEDLM_TEST_SERVER_LOG is set, else null.</summary>
    public static FileLoggerProvider? FromEnvironment() =>
        Environment.GetEnvironmentVariable("MEDLM_TEST_SERVER_LOG") is { Length: > 0 } p ? new FileLoggerProvider(p) : null;

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(string line)
    {
        lock (_gate)
        {
            File.AppendAllText(path, line + Environment.NewLine);
        }
    }

    private sealed class FileLogger(FileLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Write($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
