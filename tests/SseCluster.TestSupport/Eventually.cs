using System.Diagnostics;
using Xunit.Sdk;

namespace SseCluster.TestSupport;

/// <summary>
/// Waits, within a bound, for a condition that other parts make true, and fails with an <see cref="XunitException"/>
/// saying what did not happen: <c>timed out after 10 s waiting for &lt;what&gt;</c>. Given a <see cref="Signal"/> that
/// pulses whenever the condition may have changed, it checks again on each pulse and never polls; without one (a TTL
/// running out, a server noticing a dead peer, an HTTP answer changing) it checks every <see cref="PollInterval"/>, or
/// every <c>interval</c> where each check does something (opens a stream, publishes) a test wants done less often.
/// For events on an open stream, <see cref="SseStream.WaitForAsync(Func{ReceivedEvent, bool}, string, TimeSpan?)"/> is the signal.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <param name="what">What is awaited, as the failure message ends: "the gateway to become ready".</param>
    /// <param name="interval">Between checks; <see cref="PollInterval"/> when null.</param>
    /// <returns>How long it took.</returns>
    public static Task<TimeSpan> TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        WaitAsync(condition, () => what, null, timeout, interval);

    /// <inheritdoc cref="TrueAsync(Func{Task{bool}}, string, TimeSpan?, TimeSpan?)"/>
    public static Task<TimeSpan> TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        WaitAsync(() => Task.FromResult(condition()), () => what, null, timeout, interval);

    /// <param name="what">Asked only on failure, so it can say what was seen last.</param>
    /// <inheritdoc cref="TrueAsync(Func{Task{bool}}, string, TimeSpan?, TimeSpan?)"/>
    public static Task<TimeSpan> TrueAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        WaitAsync(condition, what, null, timeout, interval);

    /// <summary>Checks <paramref name="condition"/> now and on every pulse of <paramref name="changed"/>; never polls.</summary>
    /// <inheritdoc cref="TrueAsync(Func{Task{bool}}, Func{string}, TimeSpan?, TimeSpan?)"/>
    public static Task<TimeSpan> TrueAsync(Func<bool> condition, Func<string> what, Signal changed, TimeSpan? timeout = null) =>
        WaitAsync(() => Task.FromResult(condition()), what, changed, timeout, null);

    private static async Task<TimeSpan> WaitAsync(Func<Task<bool>> condition, Func<string> what, Signal? changed, TimeSpan? timeout, TimeSpan? interval)
    {
        var limit = timeout ?? DefaultTimeout;
        var pause = interval ?? PollInterval;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            // Taken before the check: a pulse between the check and the wait is not missed.
            var next = changed?.Next;
            if (await condition())
            {
                return clock.Elapsed;
            }

            var left = limit - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new XunitException($"timed out after {limit.TotalSeconds:0.#} s waiting for {what()}");
            }

            if (next is null)
            {
                await Task.Delay(left < pause ? left : pause);
                continue;
            }

            try
            {
                await next.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                // One last check, then the failure above.
            }
        }
    }
}

/// <summary>
/// Tells waiters that something changed (an event recorded, a call received). <see cref="Next"/> completes at the next
/// <see cref="Pulse"/>; waiters re-check their condition then (<see cref="Eventually"/>).
/// </summary>
public sealed class Signal
{
    private TaskCompletionSource _next = NewSource();

    /// <summary>Completes at the next <see cref="Pulse"/> after it was read.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
