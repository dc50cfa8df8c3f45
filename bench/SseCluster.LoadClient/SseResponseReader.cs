using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace SseCluster.LoadClient;

/// <summary>One server-sent event: its <c>event:</c> type ("message" when absent), its <c>id:</c> (null when the frame had none) and its data lines joined by "\n".</summary>
internal sealed record SseEvent(string Type, string? Id, string Data);

/// <summary>
/// Reads one HTTP/1.1 <c>text/event-stream</c> answer from a raw socket: the head, then the body event by event,
/// de-chunked when the answer is chunked. Events are parsed by the SSE rules (fields, comments, multi-line data,
/// CR LF or LF), so a frame split across reads or chunks, or several frames in one, read the same. The socket stays
/// the caller's; <see cref="Dispose"/> returns the buffers.
/// </summary>
internal sealed class SseResponseReader(Socket socket) : IDisposable
{
    private const int MaxHeadBytes = 16 * 1024;
    private const int MaxLineBytes = 1024 * 1024;

    private enum Chunk
    {
        Size,
        Data,
        DataEnd,
    }

    private readonly Queue<SseEvent> _ready = new();
    private byte[] _raw = ArrayPool<byte>.Shared.Rent(MaxHeadBytes);
    private int _start;
    private int _end;
    private bool _chunked;
    private Chunk _chunk;
    private long _chunkLeft;
    private bool _ended;
    private byte[] _line = ArrayPool<byte>.Shared.Rent(256);
    private int _lineLength;
    private string? _type;
    private string? _id;
    private StringBuilder? _data;

    /// <summary>The answer's status code, once <see cref="ReadHeadAsync"/> returned.</summary>
    public int Status { get; private set; }

    /// <summary>
    /// Reads the status line and headers. Returns false when the connection ended first, or when the head is longer
    /// than 16 KiB.
    /// </summary>
    public async ValueTask<bool> ReadHeadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var headEnd = _raw.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (headEnd >= 0)
            {
                var head = _raw.AsSpan(_start, headEnd);
                Status = RawSse.Status(head);
                _chunked = Encoding.ASCII.GetString(head).Contains("\r\ntransfer-encoding: chunked", StringComparison.OrdinalIgnoreCase);
                _start += headEnd + 4;
                return true;
            }

            if (_end == _raw.Length || !await ReceiveAsync(cancellationToken))
            {
                return false;
            }
        }
    }

    /// <summary>The next event of the body, or null when the body or the connection ended.</summary>
    /// <exception cref="InvalidDataException">The chunked encoding is broken, or a line exceeds 1 MiB.</exception>
    public async ValueTask<SseEvent?> ReadEventAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Decode();
            if (_ready.TryDequeue(out var next))
            {
                return next;
            }

            if (_ended || !await ReceiveAsync(cancellationToken))
            {
                return null;
            }
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_raw);
        ArrayPool<byte>.Shared.Return(_line);
        _raw = [];
        _line = [];
    }

    private async ValueTask<bool> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _raw.AsSpan(_start, _end - _start).CopyTo(_raw);
            _end -= _start;
            _start = 0;
        }

        var n = await socket.ReceiveAsync(_raw.AsMemory(_end), SocketFlags.None, cancellationToken);
        _end += n;
        _ended |= n == 0;
        return n > 0;
    }

    /// <summary>Turns the received body bytes into events, as far as they go.</summary>
    private void Decode()
    {
        if (!_chunked)
        {
            Feed(_raw.AsSpan(_start, _end - _start));
            _start = _end;
            return;
        }

        while (_start < _end && !_ended)
        {
            var available = _raw.AsSpan(_start, _end - _start);
            switch (_chunk)
            {
                case Chunk.Size:
                    var lineEnd = available.IndexOf("\r\n"u8);
                    if (lineEnd < 0)
                    {
                        if (available.Length > 64)
                        {
                            throw new InvalidDataException("chunk size line longer than 64 bytes");
                        }

                        return;
                    }

                    var sizeText = Encoding.ASCII.GetString(available[..lineEnd]).Split(';')[0].Trim();
                    if (!long.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _chunkLeft) || _chunkLeft < 0)
                    {
                        throw new InvalidDataException($"bad chunk size '{sizeText}'");
                    }

                    _start += lineEnd + 2;
                    _chunk = Chunk.Data;
                    _ended = _chunkLeft == 0; // the last chunk: the body is complete
                    break;

                case Chunk.Data:
                    var take = (int)Math.Min(_chunkLeft, available.Length);
                    Feed(available[..take]);
                    _start += take;
                    _chunkLeft -= take;
                    if (_chunkLeft == 0)
                    {
                        _chunk = Chunk.DataEnd;
                    }

                    break;

                case Chunk.DataEnd:
                    if (available.Length < 2)
                    {
                        return;
                    }

                    if (available[0] != '\r' || available[1] != '\n')
                    {
                        throw new InvalidDataException("chunk data not followed by CR LF");
                    }

                    _start += 2;
                    _chunk = Chunk.Size;
                    break;
            }
        }
    }

    private void Feed(ReadOnlySpan<byte> body)
    {
        while (!body.IsEmpty)
        {
            var newline = body.IndexOf((byte)'\n');
            if (newline < 0)
            {
                Append(body);
                return;
            }

            if (_lineLength == 0)
            {
                Line(body[..newline]); // the whole line is here: no copy
            }
            else
            {
                Append(body[..newline]);
                Line(_line.AsSpan(0, _lineLength));
                _lineLength = 0;
            }

            body = body[(newline + 1)..];
        }
    }

    private void Append(ReadOnlySpan<byte> part)
    {
        if (_lineLength + part.Length > _line.Length)
        {
            if (_lineLength + part.Length > MaxLineBytes)
            {
                throw new InvalidDataException("an event line exceeds 1 MiB");
            }

            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_line.Length * 2, _lineLength + part.Length));
            _line.AsSpan(0, _lineLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_line);
            _line = bigger;
        }

        part.CopyTo(_line.AsSpan(_lineLength));
        _lineLength += part.Length;
    }

    private void Line(ReadOnlySpan<byte> line)
    {
        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        if (line.IsEmpty)
        {
            if (_data is not null || _type is not null)
            {
                _ready.Enqueue(new SseEvent(_type ?? "message", _id, _data?.ToString() ?? ""));
            }

            (_type, _id, _data) = (null, null, null);
            return;
        }

        if (line[0] == ':')
        {
            return; // a comment: the gateway's heartbeats
        }

        var colon = line.IndexOf((byte)':');
        var field = colon < 0 ? line : line[..colon];
        var value = colon < 0 ? [] : line[(colon + 1)..];
        if (!value.IsEmpty && value[0] == ' ')
        {
            value = value[1..];
        }

        if (field.SequenceEqual("event"u8))
        {
            _type = Encoding.UTF8.GetString(value);
        }
        else if (field.SequenceEqual("data"u8))
        {
            _data = _data is null ? new StringBuilder() : _data.Append('\n');
            _data.Append(Encoding.UTF8.GetString(value));
        }
        else if (field.SequenceEqual("id"u8) && value.IndexOf((byte)0) < 0)
        {
            _id = Encoding.UTF8.GetString(value);
        }
    }
}
