using Microsoft.Extensions.Logging;
using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// A gateway's three subscriptions (inbox, broadcast, control) feeding one <see cref="IGatewayInbox"/>. The handlers
/// only parse and hand over; the inbox only enqueues, so Redis' delivery thread never waits for a client.
/// </summary>
internal sealed class RedisInboxSubscription(
    RedisStreamRouter router,
    IGatewayInbox inbox,
    RedisKeys keys,
    GatewayPresence presence,
    ILogger logger) : IAsyncDisposable
{
    private readonly RedisChannel _inboxChannel = keys.InboxChannel(presence.Instance);
    private ISubscriber? _subscriber;
    private int _closed;

    public async Task SubscribeAsync(ISubscriber subscriber, CancellationToken cancellationToken)
    {
        _subscriber = subscriber;
        await RedisErrors.Guard(
            Task.WhenAll(
                subscriber.SubscribeAsync(_inboxChannel, OnEvent),
                subscriber.SubscribeAsync(keys.BroadcastChannel, OnEvent),
                subscriber.SubscribeAsync(keys.ControlChannel, OnControl)),
            "subscribing to this gateway's channels",
            cancellationToken).ConfigureAwait(false);
        RedisLog.InboxOpened(logger, _inboxChannel.ToString(), keys.BroadcastChannel.ToString(), keys.ControlChannel.ToString());
    }

    public ValueTask DisposeAsync() => new(CloseAsync(cleanup: true));

    public async Task CloseAsync(bool cleanup)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            if (_subscriber is { } subscriber)
            {
                await Task.WhenAll(
                    subscriber.UnsubscribeAsync(_inboxChannel, OnEvent),
                    subscriber.UnsubscribeAsync(keys.BroadcastChannel, OnEvent),
                    subscriber.UnsubscribeAsync(keys.ControlChannel, OnControl)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            // Redis is gone: so are the subscriptions. The handlers are removed locally all the same.
        }

        await presence.CloseAsync(cleanup).ConfigureAwait(false);
        router.Release(this);
        if (cleanup)
        {
            RedisLog.InboxClosed(logger);
        }
    }

    private void OnEvent(RedisChannel channel, RedisValue message)
    {
        if (Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        try
        {
            if (!RedisEventCodec.TryDecodeMessage((string)message!, out var position, out var payload))
            {
                RedisLog.InvalidMessage(logger, channel.ToString());
                return;
            }

            inbox.Deliver(new LiveDelivery(payload!, [position]));
        }
        catch (Exception ex)
        {
            RedisLog.InboxFailed(logger, channel.ToString(), ex);
        }
    }

    private void OnControl(RedisChannel channel, RedisValue message)
    {
        if (Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        try
        {
            if (!RedisEventCodec.TryDecodeControl((string)message!, out var command))
            {
                RedisLog.InvalidMessage(logger, channel.ToString());
                return;
            }

            inbox.Control(command!);
        }
        catch (Exception ex)
        {
            RedisLog.InboxFailed(logger, channel.ToString(), ex);
        }
    }
}
