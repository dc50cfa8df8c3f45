namespace SseCluster.Gateway;

/// <summary>Stream behaviour (<c>SseCluster:Stream</c>).</summary>
public sealed class StreamOptions
{
    /// <summary>The <c>retry:</c> sent at the start of every stream, in ms. Default 3,000.</summary>
    public int RetryMilliseconds { get; set; } = 3000;
}

/// <summary>How heartbeats are sent.</summary>
public enum HeartbeatMode
{
    /// <summary>A comment line <c>: heartbeat</c>; invisible to EventSource scripts but keeps proxies from timing out.</summary>
    Comment,
    /// <summary><c>event: heartbeat</c> with <c>{"timestamp":…}</c>, for client watchdogs.</summary>
    Event,
}

/// <summary>Heartbeats (<c>SseCluster:Heartbeat</c>).</summary>
public sealed class HeartbeatOptions
{
    /// <summary>Seconds between heartbeats. Default 15.</summary>
    public int IntervalSeconds { get; set; } = 15;

    public HeartbeatMode Mode { get; set; } = HeartbeatMode.Comment;
}

/// <summary>Limits (<c>SseCluster:Limits</c>).</summary>
public sealed class LimitsOptions
{
    /// <summary>
    /// Connections this node holds at most; 0 (the default) means 90% of the process's open-file limit less a
    /// reserve, because a process that runs out of descriptors can crash instead of refusing.
    /// </summary>
    public int MaxConnections { get; set; }

    /// <summary>Connections one user may hold on this node. Default 20.</summary>
    public int MaxConnectionsPerUser { get; set; } = 20;

    /// <summary>Topics one connection may subscribe to. Default 32.</summary>
    public int MaxTopicsPerConnection { get; set; } = 32;

    /// <summary>Largest publish body in bytes (413 above). Default 64 KiB.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Publishes per second per caller (429 above), with a burst of twice that. Default 1,000.</summary>
    public int PublishPerSecond { get; set; } = 1000;

    /// <summary>Events queued per connection before it counts as a slow consumer and is cut. Default 1,024.</summary>
    public int ConnectionQueueCapacity { get; set; } = 1024;

    /// <summary>Seconds a disconnect with <c>reconnect: false</c> answers the user's reconnects with 204. Default 60.</summary>
    public int ReconnectBlockSeconds { get; set; } = 60;
}

/// <summary>Authentication (<c>SseCluster:Auth</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>
    /// HS256 secret (at least 32 bytes). At least one of this, <see cref="PublicKeyPem"/>, <see cref="Authority"/> and
    /// <see cref="MetadataAddress"/> is required; several may be set together.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>A static public key (PEM, RSA for RS256 or EC P-256 for ES256) that verifies tokens from an identity provider.</summary>
    public string? PublicKeyPem { get; set; }

    /// <summary>
    /// The identity provider's issuer URL (OpenID Connect): its signing keys are read from
    /// <c>{Authority}/.well-known/openid-configuration</c> and its JWKS, and refreshed when a token names a key not seen yet.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>The discovery document's URL, when it is not under <see cref="Authority"/>.</summary>
    public string? MetadataAddress { get; set; }

    /// <summary>Refuse an <c>http://</c> <see cref="Authority"/> or <see cref="MetadataAddress"/>. Default true.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>Least seconds between two key refreshes caused by tokens with an unknown <c>kid</c>. Default 300.</summary>
    public int MetadataRefreshSeconds { get; set; } = 300;

    /// <summary>
    /// The accepted <c>iss</c>. With an <see cref="Authority"/>, the discovery document's issuer is accepted as well;
    /// empty accepts only that one (and, without an authority, any issuer). Default <c>sse-cluster</c>.
    /// </summary>
    public string? Issuer { get; set; } = "sse-cluster";

    /// <summary>The accepted <c>aud</c>; empty accepts any. Default <c>sse-cluster</c>.</summary>
    public string? Audience { get; set; } = "sse-cluster";

    /// <summary>Tolerated clock difference for token lifetimes, in seconds. Default 30.</summary>
    public int ClockSkewSeconds { get; set; } = 30;

    /// <summary>The claim naming the user (streams, per-user limits, disconnects). Default <c>sub</c>.</summary>
    public string UserIdClaim { get; set; } = "sub";

    /// <summary>
    /// The claims listing the caller's roles (<c>publisher</c>, <c>admin</c>); empty (the default) means <c>role</c> and
    /// <c>roles</c>. A dotted name reads into a JSON object (<c>realm_access.roles</c>).
    /// </summary>
    public List<string> RoleClaims { get; set; } = [];

    /// <summary>The claim listing the topics a token may subscribe to (<c>*</c> for all). Default <c>topics</c>.</summary>
    public string TopicsClaim { get; set; } = "topics";

    /// <summary>
    /// The topics a token without a <see cref="TopicsClaim"/> may subscribe to (<c>*</c> for all). None by default: a
    /// provider's token proves who the caller is, not what it may read.
    /// </summary>
    public List<string> DefaultTopics { get; set; } = [];

    /// <summary>The role claims in effect: <see cref="RoleClaims"/>, or <c>role</c> and <c>roles</c>.</summary>
    internal IReadOnlyList<string> EffectiveRoleClaims => RoleClaims.Count > 0 ? RoleClaims : ["role", "roles"];

    /// <summary>Allow stream connections without credentials. Default false.</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>Accept a token in the <c>access_token</c> query parameter. Off by default: URLs end up in logs.</summary>
    public bool AllowAccessTokenQuery { get; set; }

    /// <summary>API keys for services (<c>X-Api-Key</c>); they may publish and administer.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Ticket lifetime in seconds. Default 30.</summary>
    public int TicketSeconds { get; set; } = 30;

    public string SessionCookieName { get; set; } = "sse_session";

    /// <summary><c>Strict</c> (default), <c>Lax</c> or <c>None</c> (cross-site pages; needs HTTPS).</summary>
    public string SessionCookieSameSite { get; set; } = "Strict";

    /// <summary>HMAC key of the stream session cookie; defaults to one derived from <see cref="SigningKey"/>. Every node of a cluster needs the same.</summary>
    public string? SessionKey { get; set; }

    /// <summary>
    /// Serve <c>POST /dev/token</c>. Unset: on in the Development environment, off elsewhere; false turns it off in
    /// Development. It is never served outside Development or on a listen address that is not loopback: the gateway
    /// refuses to start instead. Needs <see cref="SigningKey"/>.
    /// </summary>
    public bool? DevTokens { get; set; }
}

/// <summary>Cross-origin browser apps (<c>SseCluster:Cors</c>).</summary>
public sealed class CorsOptions
{
    /// <summary>Origins allowed to connect and publish from a browser, credentials included. None by default.</summary>
    public List<string> AllowedOrigins { get; set; } = [];
}

/// <summary>Graceful shutdown (<c>SseCluster:Shutdown</c>).</summary>
public sealed class ShutdownOptions
{
    /// <summary>Seconds over which connections are closed on SIGTERM. Default 10.</summary>
    public int DrainSeconds { get; set; } = 10;

    /// <summary>How many waves the connections are closed in. Default 10.</summary>
    public int Waves { get; set; } = 10;
}
