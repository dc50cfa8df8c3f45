using System.Text.Json;
using System.Text.Json.Serialization;

namespace SseCluster.Contracts;

// The JSON bodies of the gateway's HTTP API (docs/api.md). Requests refuse unknown fields.

/// <summary><c>POST /sse/send</c>.</summary>
public sealed class SendRequest
{
    public string? UserId { get; set; }
    public IReadOnlyList<string>? UserIds { get; set; }
    public string? EventType { get; set; }
    public JsonElement Data { get; set; }
}

/// <summary><c>POST /sse/broadcast</c>.</summary>
public sealed class BroadcastRequest
{
    public string? EventType { get; set; }
    public JsonElement Data { get; set; }
    public BroadcastFilter? Filter { get; set; }
}

/// <summary>Limits a broadcast to some users.</summary>
public sealed class BroadcastFilter
{
    public IReadOnlyList<string>? UserIds { get; set; }
}

/// <summary><c>POST /sse/topics/{topic}/publish</c>.</summary>
public sealed class TopicPublishRequest
{
    public string? EventType { get; set; }
    public JsonElement Data { get; set; }
}

/// <summary><c>POST /sse/answers/{answerId}/chunks</c>.</summary>
public sealed class AnswerChunkRequest
{
    public JsonElement Data { get; set; }
    public string? EventType { get; set; }
}

/// <summary><c>POST /sse/answers/{answerId}/fail</c> (the body is optional).</summary>
public sealed class AnswerFailRequest
{
    public string? Reason { get; set; }
}

/// <summary>The 202 answer of the chunk, complete and fail endpoints: where the event was stored in the answer's stream.</summary>
public sealed record AnswerEventResponse(string AnswerId, long Sequence);

/// <summary><c>POST /sse/users/{userId}/disconnect</c>.</summary>
public sealed class DisconnectRequest
{
    public string? Reason { get; set; }
    public bool? Reconnect { get; set; }
}

/// <summary><c>POST /dev/token</c>.</summary>
public sealed class DevTokenRequest
{
    public string? UserId { get; set; }
    public IReadOnlyList<string>? Roles { get; set; }
    public IReadOnlyList<string>? Topics { get; set; }
    public int? LifetimeSeconds { get; set; }
}

public sealed record StreamSequenceDto(string Stream, long Sequence);

/// <summary>The 202 answer of a publish.</summary>
public sealed record PublishResponse(IReadOnlyList<StreamSequenceDto> Events, int Gateways, int Connections);

public sealed record DisconnectResponse(int Connections);

public sealed record TicketResponse(string Ticket, DateTimeOffset ExpiresAt);

public sealed record DevTokenResponse(string Token, DateTimeOffset ExpiresAt);

/// <summary>One connection as listed by the admin API.</summary>
public sealed record ConnectionInfoDto(
    string ConnectionId,
    string GatewayId,
    string? UserId,
    string? ClientId,
    IReadOnlyList<string> Topics,
    DateTimeOffset ConnectedAt,
    string? RemoteAddress,
    string? UserAgent);

public sealed record GatewayStatsDto(string GatewayId, int Connections, int Users, DateTimeOffset StartedAt, DateTimeOffset LastSeen);

public sealed record UserConnectionCountDto(string UserId, int Connections);

/// <summary><c>GET /sse/stats</c>.</summary>
public sealed record StatsResponse(
    int Connections,
    int Users,
    int Topics,
    IReadOnlyList<GatewayStatsDto> Gateways,
    IReadOnlyList<UserConnectionCountDto> TopUsers);

/// <summary>The data of <c>event: welcome</c>.</summary>
public sealed record WelcomeData(
    string ConnectionId,
    string? ClientId,
    string? UserId,
    string GatewayId,
    DateTimeOffset ServerTime,
    IReadOnlyList<string> Topics,
    int HeartbeatSeconds);

/// <summary>The data of <c>event: close</c>.</summary>
public sealed record CloseData(string Reason, bool Reconnect);

/// <summary>The data of <c>event: reset</c>.</summary>
public sealed record ResetData(string Reason, IReadOnlyList<string> Streams);

/// <summary>The data of <c>event: reauth</c>.</summary>
public sealed record ReauthData(string Reason);

/// <summary>The data of <c>event: heartbeat</c>.</summary>
public sealed record HeartbeatData(long Timestamp);

/// <summary>The answer of <c>POST /sse/orleans-session</c>: where the Orleans Dashboard is, and until when the cookie admits.</summary>
public sealed record DashboardSession(string Url, DateTimeOffset ExpiresAt);

/// <summary>
/// Source-generated JSON for every API type: camelCase. Requests are read strictly: unknown fields, names in another
/// case, keys given twice (anywhere in the body) and numbers in strings are refused.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    PropertyNameCaseInsensitive = false,
    AllowDuplicateProperties = false,
    NumberHandling = JsonNumberHandling.Strict,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(SendRequest))]
[JsonSerializable(typeof(AnswerChunkRequest))]
[JsonSerializable(typeof(AnswerFailRequest))]
[JsonSerializable(typeof(AnswerEventResponse))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
[JsonSerializable(typeof(BroadcastRequest))]
[JsonSerializable(typeof(TopicPublishRequest))]
[JsonSerializable(typeof(DisconnectRequest))]
[JsonSerializable(typeof(DevTokenRequest))]
[JsonSerializable(typeof(PublishResponse))]
[JsonSerializable(typeof(DisconnectResponse))]
[JsonSerializable(typeof(TicketResponse))]
[JsonSerializable(typeof(DevTokenResponse))]
[JsonSerializable(typeof(ConnectionInfoDto))]
[JsonSerializable(typeof(IReadOnlyList<ConnectionInfoDto>))]
[JsonSerializable(typeof(StatsResponse))]
[JsonSerializable(typeof(WelcomeData))]
[JsonSerializable(typeof(CloseData))]
[JsonSerializable(typeof(ResetData))]
[JsonSerializable(typeof(ReauthData))]
[JsonSerializable(typeof(HeartbeatData))]
[JsonSerializable(typeof(DashboardSession))]
public sealed partial class SseJsonContext : JsonSerializerContext;
