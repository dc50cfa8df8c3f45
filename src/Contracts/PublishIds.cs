using System.Security.Cryptography;
using System.Text;

namespace SseCluster.Contracts;

/// <summary>Publish ids made from idempotency keys.</summary>
public static class PublishIds
{
    /// <summary>A stable id for <paramref name="key"/>: the first 16 bytes of its SHA-256, so any text maps to a fixed-size id.</summary>
    public static Guid FromKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return new Guid(hash[..16]);
    }
}
