using Microsoft.Extensions.Options;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Decides whether this node takes another stream: below its connection cap, not draining. Slots are counted with
/// one atomic counter, so a flood of connects cannot overshoot the cap.
/// </summary>
internal sealed class ConnectionAdmission
{
    private int _open;
    private volatile bool _draining;

    public ConnectionAdmission(IOptions<LimitsOptions> limits)
    {
        Capacity = CapacityFor(limits.Value.MaxConnections);
    }

    /// <summary>The cap for a configured <c>MaxConnections</c>: itself, or derived from the open-file limit when 0.</summary>
    public static int CapacityFor(int configured) => configured > 0 ? configured : FileDescriptorLimit.DefaultConnectionCap();

    /// <summary>The most connections this node holds.</summary>
    public int Capacity { get; }

    public int Open => Volatile.Read(ref _open);

    public bool IsDraining => _draining;

    public bool IsFull => Open >= Capacity;

    public bool TryEnter()
    {
        if (_draining)
        {
            return false;
        }

        while (true)
        {
            var open = Volatile.Read(ref _open);
            if (open >= Capacity)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _open, open + 1, open) == open)
            {
                return true;
            }
        }
    }

    public void Leave() => Interlocked.Decrement(ref _open);

    public void BeginDrain() => _draining = true;
}
