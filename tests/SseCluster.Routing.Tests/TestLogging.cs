using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>Where a test's loggers write: the test's output, once the test has finished nowhere.</summary>
public sealed class TestLogSink(ITestOutputHelper? output, string node)
{
    public void Write(string category, LogLevel level, string message, Exception? exception)
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
            // The test finished; background loops may still log.
        }
    }
}

/// <summary>An <see cref="ILogger{T}"/> writing to the test output, so failures show what the routing layer logged.</summary>
public sealed class TestLogger<T>(TestLogSink sink) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        sink.Write(typeof(T).Name, logLevel, formatter(state, exception), exception);
}
