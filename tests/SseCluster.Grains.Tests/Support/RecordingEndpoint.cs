using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.TestSupport;
using Xunit.Sdk;

namespace SseCluster.Grains.Tests.Support;

/// <summary>
/// The <see cref="IGatewayEndpoint"/> a test gateway offers the grains: it records every call it gets, answers
/// <see cref="Deliver"/> with the connection counts a test gave it (default 1 per event), and can be told to throw or
/// to hang. Tests wait on what it recorded with <see cref="WaitForAsync"/>, which fails saying what did not arrive.
/// </summary>
public sealed class RecordingEndpoint(string name) : IGatewayEndpoint
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private readonly List<LiveDelivery> _deliveries = [];
    private readonly List<ControlCommand> _commands = [];
    private readonly Signal _changed = new();
    private readonly Dictionary<StreamKey, int> _connections = [];
    private Behaviour _behaviour = Behaviour.Answer;
    private TaskCompletionSource _release = NewSignal();

    private enum Behaviour
    {
        Answer,
        Throw,
        Hang,
    }

    public string Name { get; } = name;

    /// <summary>Every delivery received (answered, thrown or hung), in arrival order.</summary>
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

    /// <summary>The deliveries of one stream.</summary>
    public IReadOnlyList<LiveDelivery> DeliveriesOf(StreamKey stream)
    {
        lock (_gate)
        {
            return _deliveries.Where(d => d.Stream == stream).ToList();
        }
    }

    /// <summary>Every sequence of <paramref name="stream"/> received, repeats included, in arrival order.</summary>
    public IReadOnlyList<long> SequencesOf(StreamKey stream)
    {
        lock (_gate)
        {
            return _deliveries.Where(d => d.Stream == stream).SelectMany(d => d.Events).Select(e => e.Sequence).ToList();
        }
    }

    /// <summary>How many local connections this gateway claims for <paramref name="stream"/> (what Deliver and Control answer).</summary>
    public void SetConnections(StreamKey stream, int count)
    {
        lock (_gate)
        {
            _connections[stream] = count;
        }
    }

    /// <summary>From now on <see cref="Deliver"/> and <see cref="Control"/> throw.</summary>
    public void Fail() => SetBehaviour(Behaviour.Throw);

    /// <summary>From now on <see cref="Deliver"/> and <see cref="Control"/> never answer (until <see cref="Answer"/>).</summary>
    public void Hang() => SetBehaviour(Behaviour.Hang);

    /// <summary>Back to answering; calls hanging now answer too.</summary>
    public void Answer() => SetBehaviour(Behaviour.Answer);

    public async Task<int[]> Deliver(LiveDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        Behaviour behaviour;
        Task release;
        int count;
        lock (_gate)
        {
            _deliveries.Add(delivery);
            behaviour = _behaviour;
            release = _release.Task;
            count = _connections.GetValueOrDefault(delivery.Stream, 1);
            _changed.Pulse();
        }

        await Obey(behaviour, release, $"deliver {delivery.Stream}");
        return Enumerable.Repeat(count, delivery.Events.Count).ToArray();
    }

    public async Task<int> Control(ControlCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Behaviour behaviour;
        Task release;
        int count;
        lock (_gate)
        {
            _commands.Add(command);
            behaviour = _behaviour;
            release = _release.Task;
            count = command.Target == ControlTarget.User ? _connections.GetValueOrDefault(StreamKey.ForUser(command.Id), 0) : 0;
            _changed.Pulse();
        }

        await Obey(behaviour, release, $"control {command.Target} {command.Id}");
        return count;
    }

    public Task<GatewayPresence> GetPresence()
    {
        lock (_gate)
        {
            var users = _connections.Where(c => c.Key.Kind == StreamKind.User).ToDictionary(c => c.Key.Name, c => c.Value, StringComparer.Ordinal);
            var topics = _connections.Where(c => c.Key.Kind == StreamKind.Topic).Select(c => c.Key.Name).ToList();
            return Task.FromResult(new GatewayPresence(users.Values.Sum(), users, topics));
        }
    }

    public Task<IReadOnlyList<ConnectionRecord>> FindConnections(ConnectionQuery query) =>
        Task.FromResult<IReadOnlyList<ConnectionRecord>>([]);

    /// <summary>Waits until <paramref name="condition"/> (re-checked on every call received) holds.</summary>
    /// <exception cref="XunitException">It did not within <paramref name="timeout"/>; says what was awaited and what arrived.</exception>
    public Task WaitForAsync(Func<bool> condition, Func<string> what, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(condition, () => $"gateway {Name}: {what()}; it received {Describe()}", _changed, timeout ?? DefaultWait);

    /// <summary>Waits until every one of <paramref name="sequences"/> of <paramref name="stream"/> was delivered here.</summary>
    public Task WaitForSequencesAsync(StreamKey stream, IEnumerable<long> sequences, TimeSpan? timeout = null)
    {
        var wanted = sequences.ToHashSet();
        return WaitForAsync(
            () => wanted.IsSubsetOf(SequencesOf(stream)),
            () => $"{stream} sequences [{Ranges(wanted.Except(SequencesOf(stream)))}]",
            timeout);
    }

    /// <summary>"1-5, 7" for a set of sequences.</summary>
    public static string Ranges(IEnumerable<long> sequences)
    {
        var sorted = sequences.Distinct().Order().ToList();
        var parts = new List<string>();
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }

            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }

        return string.Join(", ", parts);
    }

    private string Describe()
    {
        lock (_gate)
        {
            var deliveries = _deliveries.GroupBy(d => d.Stream)
                .Select(g => $"{g.Key}: {g.Count()} deliveries of [{Ranges(g.SelectMany(d => d.Events).Select(e => e.Sequence))}]");
            var text = string.Join("; ", deliveries);
            return $"{(text.Length == 0 ? "no delivery" : text)}; {_commands.Count} commands";
        }
    }

    private void SetBehaviour(Behaviour behaviour)
    {
        lock (_gate)
        {
            _behaviour = behaviour;
            if (behaviour != Behaviour.Hang)
            {
                _release.TrySetResult();
                _release = NewSignal();
            }
        }
    }

    private static async Task Obey(Behaviour behaviour, Task release, string call)
    {
        switch (behaviour)
        {
            case Behaviour.Throw:
                throw new InvalidOperationException($"test gateway told to fail: {call}");
            case Behaviour.Hang:
                await release;
                break;
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
