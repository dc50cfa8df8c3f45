using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace SseCluster.TestSupport;

/// <summary>
/// A minimal RESP client for test fixtures: one command per connection, replies as string, long, null or a list.
/// Fixtures use it to wait for a server and to inspect it (PING, CLUSTER INFO, PUBSUB …) without a client library.
/// </summary>
public static class RedisWire
{
    public static async Task<object?> ExecuteAsync(int port, IReadOnlyList<string> command, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cancellationToken).ConfigureAwait(false);
        await using var stream = client.GetStream();
        var request = new StringBuilder();
        request.Append('*').Append(command.Count).Append("\r\n");
        foreach (var part in command)
        {
            request.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cancellationToken).ConfigureAwait(false);
        var reader = new Reader(stream);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends PING; true when the server answers PONG.</summary>
    public static async Task<bool> PingAsync(int port, CancellationToken cancellationToken = default)
    {
        try
        {
            return await ExecuteAsync(port, ["PING"], cancellationToken).ConfigureAwait(false) is "PONG";
        }
        catch (Exception ex) when (ex is SocketException or IOException or RedisWireException)
        {
            return false;
        }
    }

    private sealed class Reader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<object?> ReadAsync(CancellationToken cancellationToken)
        {
            var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
            var body = line[1..];
            switch (line[0])
            {
                case '+':
                    return body;
                case '-':
                    throw new RedisWireException(body);
                case ':':
                    return long.Parse(body, CultureInfo.InvariantCulture);
                case '$':
                {
                    var length = int.Parse(body, CultureInfo.InvariantCulture);
                    if (length < 0)
                    {
                        return null;
                    }

                    var bytes = await ReadBytesAsync(length + 2, cancellationToken).ConfigureAwait(false);
                    return Encoding.UTF8.GetString(bytes, 0, length);
                }

                case '*':
                {
                    var count = int.Parse(body, CultureInfo.InvariantCulture);
                    if (count < 0)
                    {
                        return null;
                    }

                    var items = new List<object?>(count);
                    for (var i = 0; i < count; i++)
                    {
                        items.Add(await ReadAsync(cancellationToken).ConfigureAwait(false));
                    }

                    return items;
                }

                default:
                    throw new RedisWireException($"unexpected reply '{line}'");
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                for (var i = _start; i + 1 < _end; i++)
                {
                    if (_buffer[i] == '\r' && _buffer[i + 1] == '\n')
                    {
                        var line = Encoding.UTF8.GetString(_buffer, _start, i - _start);
                        _start = i + 2;
                        return line;
                    }
                }

                await FillAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task<byte[]> ReadBytesAsync(int count, CancellationToken cancellationToken)
        {
            var result = new byte[count];
            var copied = 0;
            while (copied < count)
            {
                if (_start == _end)
                {
                    await FillAsync(cancellationToken).ConfigureAwait(false);
                }

                var take = Math.Min(count - copied, _end - _start);
                Array.Copy(_buffer, _start, result, copied, take);
                _start += take;
                copied += take;
            }

            return result;
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("Redis closed the connection.");
            }

            _end += read;
        }
    }
}

/// <summary>An error reply from Redis, or a reply <see cref="RedisWire"/> cannot read.</summary>
public sealed class RedisWireException(string message) : Exception(message);
