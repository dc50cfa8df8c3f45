using SseCluster.Contracts;
using SseCluster.Grains.Redis.Internal;

namespace SseCluster.Grains.Redis;

/// <summary>
/// Cluster-wide disconnects over one control channel every gateway subscribes to.
/// <para>
/// The count returned is taken from presence just before the command is published: a user's connections on gateways
/// with a live lease in the user's grain, or 1 when a gateway holds the connection id. It is what the command targets,
/// read in one step; a gateway that dies at that moment, or a connection that opens during the command, can make it
/// differ by those connections. Gateways do not report back, so the call never waits for the slowest gateway.
/// </para>
/// </summary>
internal sealed class RedisControlBus(RedisConnection redis, RedisKeys keys, IConnectionDirectory directory) : IControlBus
{
    public async Task<int> SendAsync(ControlCommand command, TimeSpan reconnectBlock, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        int count;
        if (command.Target == ControlTarget.User)
        {
            var pending = RedisScriptRunner.Start(db, RedisScripts.CountConnections, keys.GrainDirectory(StreamKey.ForUser(command.Id)), []);
            count = (int)await RedisErrors.Guard(pending, $"counting the connections of user {command.Id}", cancellationToken).ConfigureAwait(false);
            if (!command.Reconnect && reconnectBlock > TimeSpan.Zero)
            {
                await RedisErrors.Guard(
                    db.StringSetAsync(keys.ReconnectBlock(command.Id), "1", reconnectBlock),
                    $"blocking the reconnects of user {command.Id}",
                    cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            count = await directory.FindAsync(command.Id, cancellationToken).ConfigureAwait(false) is null ? 0 : 1;
        }

        await RedisErrors.Guard(
            db.PublishAsync(keys.ControlChannel, RedisEventCodec.EncodeControl(command)),
            $"sending a disconnect for {command.Target} {command.Id}",
            cancellationToken).ConfigureAwait(false);
        return count;
    }

    public async Task<bool> IsReconnectBlockedAsync(string userId, CancellationToken cancellationToken = default)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return false;
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await RedisErrors.Guard(db.KeyExistsAsync(keys.ReconnectBlock(userId)), $"checking the reconnect block of user {userId}", cancellationToken).ConfigureAwait(false);
    }
}
