using System.Diagnostics;
using Xunit.Sdk;

namespace SseCluster.Grains.Tests.Support;

/// <summary>Polls a condition no signal reports (a store entry removed in the background); fails saying what did not happen.</summary>
public static class Until
{
    public static async Task TrueAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new XunitException($"timed out after {limit.TotalSeconds:0.#} s waiting for {what()}");
            }

            await Task.Delay(20);
        }
    }
}
