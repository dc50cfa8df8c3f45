using System.Collections.Concurrent;
using SseCluster.Contracts;
using SseCluster.Grains;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Reference counts of the user and topic streams this node's connections read. The routing layer is told on the
/// first reader of a stream (attach) and after the last one left (detach), one transition at a time per stream, so a
/// detach can never overtake a newer attach.
/// </summary>
internal sealed class StreamAttachments(IStreamRouter router)
{
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
                    await router.AttachAsync(stream, cancellationToken);
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
                _entries.TryRemove(new KeyValuePair<StreamKey, Entry>(stream, entry));
                await router.DetachAsync(stream, cancellationToken);
            }
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public int Count { get; set; }

        public bool Retired { get; set; }
    }
}
