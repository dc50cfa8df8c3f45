using System.Runtime.InteropServices;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// The process's open-file limit. Every connection costs a descriptor, and a Kestrel process that runs out of them was
/// seen to crash instead of refusing, so the default connection cap stays well below it.
/// </summary>
internal static partial class FileDescriptorLimit
{
    private const int RlimitNofile = 7; // Linux
    private const int Reserve = 1000;   // logs, Redis, sockets in accept, the runtime's own files

    /// <summary>90% of the soft limit less a reserve; 1,000 where the limit cannot be read.</summary>
    public static int DefaultConnectionCap()
    {
        var limit = SoftLimit();
        if (limit is not { } value)
        {
            return 1000;
        }

        return (int)Math.Clamp(value * 9 / 10 - Reserve, 100, 1_000_000);
    }

    public static long? SoftLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return getrlimit(RlimitNofile, out var limit) == 0 ? (long)Math.Min(limit.Current, long.MaxValue) : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);
}
