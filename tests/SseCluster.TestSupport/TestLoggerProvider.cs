using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace SseCluster.TestSupport;

/// <summary>
/// Hands every log entry at or above a level to a test: to its output (<see cref="ToOutput"/>), so a failure shows what
/// the code under test logged, or to a callback that collects lines to assert on. Add it with
/// <c>services.AddLogging(b =&gt; b.AddProvider(...))</c> or <c>builder.Logging.AddProvider(...)</c>.
/// </summary>
public sealed class TestLoggerProvider(Action<string, LogLevel, string, Exception?> write, LogLevel minimum = LogLevel.Trace) : ILoggerProvider
{
    /// <summary>
    /// Writes <c>HH:mm:ss.fff [node] Level Category: message</c> to <paramref name="output"/>; nothing once the test has
    /// finished (background loops may still log) or when <paramref name="output"/> is null.
    /// </summary>
    public static TestLoggerProvider ToOutput(ITestOutputHelper? output, string node, LogLevel minimum = LogLevel.Debug) =>
        new(
            (category, level, message, exception) =>
            {
                if (output is null)
                {
                    return;
                }

                try
                {
                    output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{node}] {level} {category}: {message}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
                }
                catch (InvalidOperationException)
                {
                    // The test finished.
                }
            },
            minimum);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, write, minimum);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, Action<string, LogLevel, string, Exception?> write, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                write(category, logLevel, formatter(state, exception), exception);
            }
        }
    }
}
