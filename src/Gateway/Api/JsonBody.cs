using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace SseCluster.Gateway.Api;

/// <summary>
/// Reads a JSON request body strictly: 415 unless the Content-Type is <c>application/json</c> (optionally with
/// <c>charset=utf-8</c>); 413 past the size limit (nothing is read past it); 400 naming the field for malformed JSON,
/// wrong types, unknown fields, names in another case than documented, keys given twice (anywhere, <c>data</c>
/// included), invalid UTF-8, or a body that ends before its announced length.
/// </summary>
internal static partial class JsonBody
{
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo, int maxBytes, string limitKey = "SseCluster:Limits:MaxPayloadBytes")
        where T : class
    {
        var request = context.Request;
        if (MediaTypeProblem(request.ContentType) is { } unsupported)
        {
            return (null, unsupported);
        }

        if (request.ContentLength > maxBytes)
        {
            return (null, TooLarge(maxBytes, limitKey));
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(maxBytes + 1, 16 * 1024));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length > maxBytes)
                    {
                        return (null, TooLarge(maxBytes, limitKey));
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                int read;
                try
                {
                    read = await request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted);
                }
                catch (BadHttpRequestException ex)
                {
                    // A body shorter than its Content-Length, a broken chunked encoding, or one over the server's own
                    // limit: the client's mistake, not ours, so it is answered and logged at Debug only.
                    Log.BodyUnreadable(Logger(context), ex.StatusCode, ex.Message);
                    return (null, ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                        ? TooLarge(maxBytes, limitKey)
                        : Problems.Field("body", "the body could not be read: it ended before its Content-Length, or its chunked encoding is broken"));
                }

                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > maxBytes)
                {
                    return (null, TooLarge(maxBytes, limitKey));
                }
            }

            if (length == 0)
            {
                return (null, Problems.Field("body", "a JSON object is required"));
            }

            // The parser leaves string contents unchecked until they are read; check the whole body once, up front.
            if (!System.Text.Unicode.Utf8.IsValid(buffer.AsSpan(0, length)))
            {
                return (null, Problems.Field("body", "the body is not valid UTF-8"));
            }

            try
            {
                var value = JsonSerializer.Deserialize(buffer.AsSpan(0, length), typeInfo);
                return value is null ? (null, Problems.Field("body", "a JSON object is required")) : (value, null);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                return (null, Problems.Field("body", "the body is not valid UTF-8 JSON"));
            }
            catch (JsonException ex)
            {
                var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "body" : ex.Path.TrimStart('$', '.');
                return (null, Problems.Field(field, Describe(ex, field, typeInfo)));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Null for <c>application/json</c>, bare or with <c>charset=utf-8</c>; otherwise the 415 answer.</summary>
    internal static IResult? MediaTypeProblem(string? contentType)
    {
        const string Expected = "the body must be sent with Content-Type: application/json (optionally with charset=utf-8)";
        if (string.IsNullOrEmpty(contentType))
        {
            return Unsupported(Expected + "; the request has no Content-Type");
        }

        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return Unsupported(Expected);
        }

        foreach (var parameter in media.Parameters)
        {
            if (!parameter.Name.Equals("charset", StringComparison.OrdinalIgnoreCase)
                || !HeaderUtilities.RemoveQuotes(parameter.Value).Equals("utf-8", StringComparison.OrdinalIgnoreCase))
            {
                return Unsupported(Expected);
            }
        }

        return null;
    }

    private static IResult Unsupported(string message) => Problems.Field("Content-Type", message, StatusCodes.Status415UnsupportedMediaType);

    private static IResult TooLarge(int maxBytes, string limitKey) =>
        Problems.Status(StatusCodes.Status413PayloadTooLarge, $"the body is larger than {maxBytes} bytes ({limitKey})", "Payload too large");

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(JsonBody).FullName!);

    // The exception text can hold a type name of ours; keep the part a caller can act on.
    private static string Describe(JsonException ex, string field, JsonTypeInfo typeInfo)
    {
        var message = ex.Message;
        if (message.StartsWith("Duplicate property '", StringComparison.Ordinal))
        {
            var start = "Duplicate property '".Length;
            var end = message.IndexOf('\'', start);
            var key = end > start ? message[start..end] : null;
            var last = field[(field.LastIndexOf('.') + 1)..];
            return key is null || key == last
                ? "the key is given more than once"
                : $"the key '{key}' is given more than once inside it";
        }

        if (message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var name = field[(field.LastIndexOf('.') + 1)..];
            return KnownSpelling(typeInfo, name, depth: 0) is { } known && known != name
                ? $"unknown field: names are case-sensitive, the field is '{known}'"
                : "unknown field";
        }

        if (message.Contains("could not be converted", StringComparison.Ordinal))
        {
            return "wrong type";
        }

        if (ex.InnerException is InvalidOperationException or ArgumentException || message.Contains("UTF-8", StringComparison.OrdinalIgnoreCase))
        {
            return "the body is not valid UTF-8";
        }

        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    /// <summary>The documented spelling of a field sent in another case, searching the request type and its nested objects.</summary>
    private static string? KnownSpelling(JsonTypeInfo typeInfo, string name, int depth)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object || depth > 4)
        {
            return null;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Name;
            }

            if (property.PropertyType != typeof(string) && typeInfo.Options.TryGetTypeInfo(property.PropertyType, out var nested)
                && KnownSpelling(nested, name, depth + 1) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(120, LogLevel.Debug, "A request body could not be read ({Status}): {Reason}")]
        public static partial void BodyUnreadable(ILogger logger, int status, string reason);
    }
}
