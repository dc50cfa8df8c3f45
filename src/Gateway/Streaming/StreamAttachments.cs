using System.Collections.Concurrent;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Routing;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Reference counts of the streams this node's connections read. A stream's grain is told on the first local reader
/// (attach) and after the last one left (detach), one transition at a time per stream, so a detach can never overtake
/// a newer attach. While a stream has local readers it is tracked in <see cref="LiveStreams"/>.
/// </summary>
internal sealed class StreamAttachments(IGrainFactory grains, LocalGateway gateway, LiveStreams live, RoutingCalls calls)
{
    private static readonly TimeSpan JoinWait = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<StreamKey, Entry> _entries = new();

    public async Task AcquireAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            var entry = _entries.GetOrAdd(stream, static _ => new Entry());
            await entry.Gate.WaitAsync(cancellationToken);
            try
            {
                if (entry.Retired)
                {
                    continue; // removed while we waited; take the new entry
                }

                if (entry.Count == 0)
                {
                    // Tracked before the grain knows us: a delivery that arrives right after the attach finds its stream.
                    live.Track(stream);
                    try
                    {
                        await AttachAsync(stream, cancellationToken);
                    }
                    catch
                    {
                        live.Untrack(stream);
                        throw;
                    }
                }

                entry.Count++;
                return;
            }
            finally
            {
                entry.Gate.Release();
            }
        }
    }

    public async Task ReleaseAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        if (!_entries.TryGetValue(stream, out var entry))
        {
            return;
        }

        await entry.Gate.WaitAsync(cancellationToken);
        try
        {
            if (entry.Retired || entry.Count == 0)
            {
                return;
            }

            if (--entry.Count == 0)
            {
                entry.Retired = true;
                live.Untrack(stream);

                // Locally the stream is gone whatever happens next. If the grain cannot be told, it keeps sending here
                // for a while; those deliveries find no reader and are dropped.
                var (address, _) = await gateway.GetAsync(JoinWait, cancellationToken);
                await calls.RunAsync(ct => grains.GetGrain<IStreamGrain>(stream.GrainKey).Detach(address, ct), $"detaching {stream}", cancellationToken);
            }
        }
        finally
        {
            Retire(stream, entry);
        }
    }

    /// <summary>
    /// Tells the grain that this gateway does not read <paramref name="stream"/> (a delivery came for it: an earlier
    /// detach did not reach the grain). Only while no local connection reads it, in turn with attaches of the stream,
    /// so it can never undo a newer attach. Skipped while another transition of the stream is under way.
    /// </summary>
    public async Task DetachUnreadAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        var entry = _entries.GetOrAdd(stream, static _ => new Entry());
        if (!await entry.Gate.WaitAsync(0, cancellationToken))
        {
            return;
        }

        try
        {
            if (entry.Count > 0 || entry.Retired)
            {
                return;
            }

            entry.Retired = true;
            var (address, _) = await gateway.GetAsync(JoinWait, cancellationToken);
            await calls.RunAsync(ct => grains.GetGrain<IStreamGrain>(stream.GrainKey).Detach(address, ct), $"detaching {stream}", cancellationToken);
        }
        finally
        {
            Retire(stream, entry);
        }
    }

    // Ends a transition. A retired entry leaves the map only once its detach has answered: a reader arriving meanwhile
    // waits on this entry's gate, finds it retired and starts a new one, so its attach reaches the grain after the
    // detach — the grain is reentrant and would otherwise take the two in either order and forget this gateway.
    private void Retire(StreamKey stream, Entry entry)
    {
        if (entry.Retired)
        {
            _entries.TryRemove(new KeyValuePair<StreamKey, Entry>(stream, entry));
        }

        entry.Gate.Release();
    }

    /// <summary>Tells the grain again that this gateway reads <paramref name="stream"/> (it may have lost that: a tail check found it behind).</summary>
    public async Task ReattachAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(stream, out var entry) && !entry.Retired)
        {
            await AttachAsync(stream, cancellationToken);
        }
    }

    private async Task AttachAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        var (address, endpoint) = await gateway.GetAsync(JoinWait, cancellationToken);
        await calls.RetryAsync(ct => grains.GetGrain<IStreamGrain>(stream.GrainKey).Attach(address, endpoint, ct), $"attaching {stream}", cancellationToken);
    }

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Count { get; set; }

        public bool Retired { get; set; }
    }
}
