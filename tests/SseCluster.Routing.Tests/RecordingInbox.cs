using SseCluster.Grains;

namespace SseCluster.Routing.Tests;

/// <summary>
/// An <see cref="IGatewayInbox"/> that records what it is handed and lets a test wait for a matching delivery or
/// command, failing with a message that says what did not arrive.
/// </summary>
public sealed class RecordingInbox : IGatewayInbox
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly List<LiveDelivery> _deliveries = [];
    private readonly List<ControlCommand> _commands = [];
    private readonly List<(Func<LiveDelivery, bool> Match, TaskCompletionSource<LiveDelivery> Done)> _deliveryWaiters = [];
    private readonly List<(Func<ControlCommand, bool> Match, TaskCompletionSource<ControlCommand> Done)> _commandWaiters = [];

    /// <summary>What <see cref="Deliver"/> answers (the connections an event was queued to).</summary>
    public Func<LiveDelivery, int> DeliverResult { get; set; } = _ => 1;

    /// <summary>What <see cref="Control"/> answers (the connections a command closed).</summary>
    public Func<ControlCommand, int> ControlResult { get; set; } = _ => 0;

    public IReadOnlyList<LiveDelivery> Deliveries
    {
        get
        {
            lock (_gate)
            {
                return [.. _deliveries];
            }
        }
    }

    public IReadOnlyList<ControlCommand> Commands
    {
        get
        {
            lock (_gate)
            {
                return [.. _commands];
            }
        }
    }

    public int Deliver(LiveDelivery delivery)
    {
        lock (_gate)
        {
            _deliveries.Add(delivery);
            Complete(_deliveryWaiters, delivery);
        }

        return DeliverResult(delivery);
    }

    public int Control(ControlCommand command)
    {
        lock (_gate)
        {
            _commands.Add(command);
            Complete(_commandWaiters, command);
        }

        return ControlResult(command);
    }

    /// <summary>The first delivery (already received or still to come) with an event on <paramref name="stream"/>.</summary>
    public Task<LiveDelivery> WaitForAsync(string stream, string? data = null, TimeSpan? timeout = null) =>
        WaitForDeliveryAsync(
            d => d.Streams.Any(s => s.Stream.ToString() == stream) && (data is null || d.Payload.Data == data),
            $"a live event on {stream}{(data is null ? "" : " with data " + data)}",
            timeout);

    public Task<LiveDelivery> WaitForDeliveryAsync(Func<LiveDelivery, bool> match, string description, TimeSpan? timeout = null) =>
        WaitAsync(_deliveries, _deliveryWaiters, match, description, timeout);

    public Task<ControlCommand> WaitForCommandAsync(Func<ControlCommand, bool> match, string description, TimeSpan? timeout = null) =>
        WaitAsync(_commands, _commandWaiters, match, description, timeout);

    public bool Received(string stream) => Deliveries.Any(d => d.Streams.Any(s => s.Stream.ToString() == stream));

    private async Task<T> WaitAsync<T>(List<T> seen, List<(Func<T, bool> Match, TaskCompletionSource<T> Done)> waiters, Func<T, bool> match, string description, TimeSpan? timeout)
    {
        TaskCompletionSource<T> done;
        lock (_gate)
        {
            foreach (var item in seen)
            {
                if (match(item))
                {
                    return item;
                }
            }

            done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters.Add((match, done));
        }

        var limit = timeout ?? DefaultTimeout;
        try
        {
            return await done.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{description} did not arrive within {limit.TotalSeconds:0.#} s; received {seen.Count} item(s).");
        }
    }

    private static void Complete<T>(List<(Func<T, bool> Match, TaskCompletionSource<T> Done)> waiters, T item)
    {
        for (var i = waiters.Count - 1; i >= 0; i--)
        {
            if (waiters[i].Match(item))
            {
                waiters[i].Done.TrySetResult(item);
                waiters.RemoveAt(i);
            }
        }
    }
}
