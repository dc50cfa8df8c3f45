using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Storage;

namespace SseCluster.Grains.Streams;

/// <summary>
/// One stream's grain (<c>u:42</c>, <c>t:room-7</c>, <c>b</c>). It is reentrant with a single flush loop: publishes
/// queue up while the store answers the previous append, then go to the store together (group commit), so a hot
/// stream such as the broadcast costs one store round trip per batch, not per event. After the store answered, the
/// events go to every live attached gateway — one call per gateway (not per connection) with one call in flight per
/// gateway, so what queues up meanwhile travels together (<see cref="GatewayOutbox"/>); the publishers are answered
/// when the gateways took their event or <see cref="StreamGrainOptions.DeliveryTimeout"/> passed.
/// <para>
/// Nothing here must survive the activation: sequence numbers come from the store, attachments are read from it on
/// activation, and a gateway that misses a delivery (a timeout, a second activation for a moment) fills the hole
/// from the store by itself.
/// </para>
/// </summary>
[Reentrant]
internal sealed partial class StreamGrain(
    IStreamHistory history,
    IGatewayAttachments attachments,
    IReconnectBlocks blocks,
    IClusterMembershipService membership,
    CoHostedGateway coHosted,
    IOptions<StreamGrainOptions> options,
    ILogger<StreamGrain> logger) : Grain, IStreamGrain
{
    private readonly Dictionary<SiloAddress, IGatewayEndpoint> _gateways = [];
    private readonly List<PendingPublish> _pending = [];
    private readonly Dictionary<SiloAddress, GatewayOutbox> _outboxes = [];
    private readonly HashSet<SiloAddress> _unsaved = [];
    private readonly StreamGrainOptions _options = options.Value;
    private StreamKey _stream;
    private bool _flushing;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!StreamKey.TryParse(this.GetPrimaryKeyString(), out _stream))
        {
            throw new ArgumentException($"'{this.GetPrimaryKeyString()}' is not a stream key (u:<user>, t:<topic> or b)");
        }

        foreach (var (gateway, endpoint) in await attachments.GetAsync(_stream, cancellationToken))
        {
            if (TryParseSilo(gateway) is { } silo && TryParseGrainId(endpoint) is { } id)
            {
                _gateways[silo] = GrainFactory.GetGrain<IGatewayEndpoint>(id);
            }
        }
    }

    public Task<PublishAck> Publish(EventPayload payload, Guid publishId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payload);
        // The publish's trace (the grain call's span, a child of the HTTP request): its deliveries hang under it.
        var pending = new PendingPublish(new PendingEvent(publishId, payload), Activity.Current?.Context ?? default);
        _pending.Add(pending);
        if (!_flushing)
        {
            _flushing = true;
            _ = FlushAsync();
        }

        // Cancelling stops the wait, not the store: a caller that retries with the same publish id gets this one's sequence.
        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    public async Task Attach(SiloAddress gateway, IGatewayEndpoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        ArgumentNullException.ThrowIfNull(endpoint);

        // In the map before the first await: any batch whose targets are chosen from now on includes this gateway.
        var known = _gateways.TryGetValue(gateway, out var current) && current.GetGrainId() == endpoint.GetGrainId();
        _gateways[gateway] = endpoint;
        if (known && !_unsaved.Contains(gateway))
        {
            return;
        }

        // Saved, so an activation elsewhere (after this silo died) still delivers to it. Until the store took it, the
        // gateway counts as unsaved: it gets events from this activation, and its next attach tries the store again.
        _unsaved.Add(gateway);
        await attachments.AddAsync(_stream, gateway.ToParsableString(), endpoint.GetGrainId().ToString(), cancellationToken);
        _unsaved.Remove(gateway);
    }

    public async Task Detach(SiloAddress gateway, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        _gateways.Remove(gateway);
        _unsaved.Remove(gateway);
        if (_outboxes.Remove(gateway, out var outbox))
        {
            outbox.Abandon();
        }

        await attachments.RemoveAsync(_stream, gateway.ToParsableString(), cancellationToken);
    }

    public async Task<int> Disconnect(ControlCommand command, TimeSpan reconnectBlock, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_stream.Kind != StreamKind.User)
        {
            throw new InvalidOperationException($"only user streams disconnect; {_stream} is not one");
        }

        if (!command.Reconnect && reconnectBlock > TimeSpan.Zero)
        {
            await blocks.BlockAsync(_stream.Name, reconnectBlock, cancellationToken);
        }

        var targets = LiveGateways();
        var closed = await Task.WhenAll(targets.Select(t => ControlAsync(t.Key, t.Value, command)));
        return closed.Sum();
    }

    private async Task FlushAsync()
    {
        try
        {
            while (_pending.Count > 0)
            {
                var count = Math.Min(_pending.Count, _options.MaxBatch);
                var batch = _pending.GetRange(0, count);
                _pending.RemoveRange(0, count);
                AppendResult stored;
                try
                {
                    // A store known to be down answers at once: publishers get a clear "not stored" instead of a wait.
                    if (!history.IsAvailable)
                    {
                        throw new RoutingUnavailableException($"the stream store is unavailable: {_stream} could not store the event");
                    }

                    stored = await history.AppendAsync(_stream, batch.ConvertAll(p => p.Event));
                }
                catch (Exception ex)
                {
                    var failure = ex as RoutingUnavailableException ?? new RoutingUnavailableException($"storing an event on {_stream} failed", ex);
                    foreach (var pending in batch)
                    {
                        pending.Completion.TrySetException(failure);
                    }

                    continue;
                }

                // The next batch goes to the store while the gateways take this one.
                Deliver(batch, stored);
            }
        }
        finally
        {
            _flushing = false;
        }
    }

    private void Deliver(List<PendingPublish> batch, AppendResult stored)
    {
        // A repeated publish id maps to an earlier sequence: each sequence goes out once, in order, and answers every
        // publish that asked for it.
        var bySequence = new SortedDictionary<long, (StoredEvent Tracker, LiveEvent Event)>();
        for (var i = 0; i < batch.Count; i++)
        {
            var sequence = stored.Sequences[i];
            if (!bySequence.TryGetValue(sequence, out var e))
            {
                bySequence[sequence] = e = (new StoredEvent(sequence, stored.Epoch, batch[i].Trace), new LiveEvent(sequence, batch[i].Event.Payload));
            }

            e.Tracker.AddPublisher(batch[i].Completion);
        }

        var events = bySequence.Values.ToList();
        var trackers = events.ConvertAll(e => e.Tracker);
        var targets = LiveGateways();
        var gateways = targets.ConvertAll(t => t.Key);
        foreach (var tracker in trackers)
        {
            tracker.SendTo(gateways);
        }

        foreach (var (gateway, endpoint) in targets)
        {
            Outbox(gateway, endpoint).Enqueue(events, DeliverAsync, _stream, _options.MaxBatch);
        }

        if (targets.Count > 0)
        {
            _ = AnswerLateAsync(trackers);
        }
    }

    // A publisher waits for the gateways at most the delivery timeout: the event is stored, and a gateway that did not
    // take it in time catches up from the store.
    private async Task AnswerLateAsync(List<StoredEvent> events)
    {
        await Task.Delay(_options.DeliveryTimeout);
        foreach (var e in events)
        {
            e.Answer();
        }
    }

    private GatewayOutbox Outbox(SiloAddress gateway, IGatewayEndpoint endpoint)
    {
        if (!_outboxes.TryGetValue(gateway, out var outbox))
        {
            _outboxes[gateway] = outbox = new GatewayOutbox(gateway, endpoint);
        }

        outbox.Endpoint = endpoint;
        return outbox;
    }

    private async Task<int[]?> DeliverAsync(GatewayOutbox outbox, LiveDelivery delivery)
    {
        try
        {
            // The gateway of this silo is called directly, off the grain's scheduler: its delivery writes to every
            // local connection of the stream, which must not hold up the grain's next batch.
            var call = coHosted.For(outbox.Gateway) is { } local
                ? Task.Run(() => local.Deliver(delivery))
                : outbox.Endpoint.Deliver(delivery);
            return await call.WaitAsync(_options.DeliveryTimeout);
        }
        catch (Exception ex)
        {
            await OnGatewayFailedAsync(outbox.Gateway, outbox.Endpoint, ex);
            return null;
        }
    }

    private async Task<int> ControlAsync(SiloAddress gateway, IGatewayEndpoint endpoint, ControlCommand command)
    {
        try
        {
            return await endpoint.Control(command).WaitAsync(_options.DeliveryTimeout);
        }
        catch (Exception ex)
        {
            await OnGatewayFailedAsync(gateway, endpoint, ex);
            return 0;
        }
    }

    // A gateway membership declared dead is dropped for good; any other failure (a timeout, a silo not yet declared
    // dead) keeps it: the gateway fills what it missed from the store, or is dropped once it is declared dead.
    private async Task OnGatewayFailedAsync(SiloAddress gateway, IGatewayEndpoint endpoint, Exception ex)
    {
        if (membership.CurrentSnapshot.GetSiloStatus(gateway) != SiloStatus.Dead)
        {
            Log.DeliveryFailed(logger, _stream.ToString(), gateway.ToString(), ex.GetType().Name, ex.Message);
            return;
        }

        if (_gateways.TryGetValue(gateway, out var current) && current.GetGrainId() == endpoint.GetGrainId())
        {
            await ForgetAsync(gateway);
        }
    }

    /// <summary>The attached gateways whose silo is not known to be dead; dead ones are forgotten on the way.</summary>
    private List<KeyValuePair<SiloAddress, IGatewayEndpoint>> LiveGateways()
    {
        var snapshot = membership.CurrentSnapshot;
        var live = new List<KeyValuePair<SiloAddress, IGatewayEndpoint>>(_gateways.Count);
        List<SiloAddress>? dead = null;
        foreach (var entry in _gateways)
        {
            if (snapshot.GetSiloStatus(entry.Key) == SiloStatus.Dead)
            {
                (dead ??= []).Add(entry.Key);
            }
            else
            {
                live.Add(entry);
            }
        }

        foreach (var gateway in dead ?? [])
        {
            _ = ForgetAsync(gateway);
        }

        return live;
    }

    private async Task ForgetAsync(SiloAddress gateway)
    {
        _gateways.Remove(gateway);
        _unsaved.Remove(gateway);
        if (_outboxes.Remove(gateway, out var outbox))
        {
            outbox.Abandon();
        }

        try
        {
            await attachments.RemoveAsync(_stream, gateway.ToParsableString());
            Log.DeadGatewayForgotten(logger, _stream.ToString(), gateway.ToString());
        }
        catch (RoutingUnavailableException ex)
        {
            // The entry is read again at the next activation, and dropped again then.
            Log.DeliveryFailed(logger, _stream.ToString(), gateway.ToString(), ex.GetType().Name, ex.Message);
        }
    }

    private static SiloAddress? TryParseSilo(string text)
    {
        try
        {
            return SiloAddress.FromParsableString(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static GrainId? TryParseGrainId(string text) => GrainId.TryParse(text, out var id) ? id : null;

    private sealed class PendingPublish(PendingEvent pending, ActivityContext trace)
    {
        public PendingEvent Event { get; } = pending;

        public ActivityContext Trace { get; } = trace;

        public TaskCompletionSource<PublishAck> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Warning, "Stream {Stream}: gateway {Gateway} did not take a delivery ({Error}: {Message}); it catches up from the store")]
        public static partial void DeliveryFailed(ILogger logger, string stream, string gateway, string error, string message);

        [LoggerMessage(101, LogLevel.Information, "Stream {Stream}: gateway {Gateway} is dead; its attachment was removed")]
        public static partial void DeadGatewayForgotten(ILogger logger, string stream, string gateway);
    }
}
