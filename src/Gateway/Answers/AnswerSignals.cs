using System.Collections.Concurrent;
using System.Threading.Channels;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Answers;

/// <summary>
/// Wakes this node's answer readers when their answer's grain delivered an event. A wake only says "read again": the
/// readers take the events themselves from the store, in order, so a lost or repeated wake loses or repeats nothing.
/// </summary>
internal sealed class AnswerSignals
{
    private readonly ConcurrentDictionary<StreamKey, ConcurrentDictionary<Subscription, byte>> _readers = new();

    public Subscription Subscribe(StreamKey stream)
    {
        var subscription = new Subscription(this, stream);
        _readers.GetOrAdd(stream, static _ => new()).TryAdd(subscription, 0);
        return subscription;
    }

    public void Notify(StreamKey stream)
    {
        if (_readers.TryGetValue(stream, out var readers))
        {
            foreach (var reader in readers.Keys)
            {
                reader.Wake();
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        if (_readers.TryGetValue(subscription.Stream, out var readers) && readers.TryRemove(subscription, out _) && readers.IsEmpty)
        {
            _readers.TryRemove(new KeyValuePair<StreamKey, ConcurrentDictionary<Subscription, byte>>(subscription.Stream, readers));
        }
    }

    /// <summary>One reader's wake-ups; a wake that comes while one is pending is merged into it.</summary>
    internal sealed class Subscription(AnswerSignals owner, StreamKey stream) : IDisposable
    {
        private readonly Channel<bool> _wakes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

        public StreamKey Stream { get; } = stream;

        public void Wake() => _wakes.Writer.TryWrite(true);

        /// <summary>Waits for a wake or <paramref name="timeout"/>, whichever comes first.</summary>
        public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                await _wakes.Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The timeout: read again anyway, a delivery may have been lost.
            }
        }

        public void Dispose() => owner.Remove(this);
    }
}
