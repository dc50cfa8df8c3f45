using System.Diagnostics;

namespace SseCluster.Routing.Tests;

/// <summary>Waits for a condition that has no signal of its own (a TTL running out, a socket noticing a dead server).</summary>
public static class Eventually
{
    /// <returns>How long it took.</returns>
    public static async Task<TimeSpan> TrueAsync(Func<Task<bool>> condition, string description, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"{description} was still not true after {limit.TotalSeconds:0.#} s.");
            }

            await Task.Delay(20);
        }

        return clock.Elapsed;
    }

    public static Task<TimeSpan> TrueAsync(Func<bool> condition, string description, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(condition()), description, timeout);
}
