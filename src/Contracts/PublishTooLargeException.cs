namespace SseCluster.Contracts;

/// <summary>
/// A publish would store more than the cluster allows in one go (the data's size times the streams it goes to);
/// nothing was stored. The gateway's HTTP API answers 413.
/// </summary>
public sealed class PublishTooLargeException : ArgumentException
{
    public PublishTooLargeException()
    {
    }

    public PublishTooLargeException(string message)
        : base(message)
    {
    }

    public PublishTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
