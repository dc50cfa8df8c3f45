namespace SseCluster.Cluster.Tests.Support;

/// <summary>Polls a condition that other parts make true; on timeout, fails saying what did not happen and what was seen last.</summary>
public static class Until
{
    public static async Task TrueAsync(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out after {(timeout ?? TimeSpan.FromSeconds(10)).TotalSeconds:0.#} s waiting for {what()}");
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(50));
        }
    }
}
