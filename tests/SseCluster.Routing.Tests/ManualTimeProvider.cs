namespace SseCluster.Routing.Tests;

/// <summary>
/// A clock that moves only when a test moves it, for the in-memory stores (which take all their time from the
/// <see cref="TimeProvider"/>). Timers are not faked: the stores create none.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _utcTicks = start.UtcTicks;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _utcTicks);

    /// <summary>Moves the clock forward by <paramref name="duration"/> (never back).</summary>
    public void Advance(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        Interlocked.Add(ref _utcTicks, duration.Ticks);
    }
}
