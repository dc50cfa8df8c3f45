using System.Net;
using System.Net.Sockets;

namespace SseCluster.TestSupport;

/// <summary>
/// Loopback ports nothing listens on right now. Another process may take one before the caller binds it: a caller
/// that can tell (a gateway process that does not become ready) tries again with another.
/// </summary>
public static class FreePorts
{
    /// <summary>A free loopback port, chosen by the kernel.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary><paramref name="count"/> distinct free ports.</summary>
    public static int[] Take(int count)
    {
        var ports = new HashSet<int>();
        while (ports.Count < count)
        {
            ports.Add(Next());
        }

        return [.. ports];
    }

    /// <summary>
    /// A free port whose cluster bus port (port + 10000, as Redis Cluster uses) is free too; from 20000–44999, so the
    /// bus port stays below 65536.
    /// </summary>
    public static int NextWithBusPort()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20000, 45000);
            if (IsBindable(port) && IsBindable(port + 10000))
            {
                return port;
            }
        }

        throw new InvalidOperationException("No free loopback port with a free bus port (port + 10000) found in 200 tries.");
    }

    private static bool IsBindable(int port)
    {
        using var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
