using System.Diagnostics;

namespace SseCluster.TestSupport;

/// <summary>Waits for a gateway's <c>/readyz</c> to answer 200: in-process hosts and gateway processes alike.</summary>
public static class Readiness
{
    /// <summary>
    /// Polls <c>/readyz</c> every 100 ms until it answers 200. Throws at once when <paramref name="exited"/> says the
    /// process is gone, and after <paramref name="timeout"/>; both messages end with <paramref name="describe"/>'s text
    /// (the process's recent output, say).
    /// </summary>
    public static async Task WaitAsync(Uri baseAddress, TimeSpan timeout, string what, Func<int?>? exited = null, Func<string>? describe = null)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (exited?.Invoke() is { } code)
            {
                throw new InvalidOperationException($"{what} exited with {code}:\n{describe?.Invoke()}");
            }

            try
            {
                using var response = await http.GetAsync("/readyz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"{what} was not ready within {timeout.TotalSeconds} s:\n{describe?.Invoke()}");
            }

            await Task.Delay(100);
        }
    }
}
