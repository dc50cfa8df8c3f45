namespace SseCluster.Gateway.Auth;

/// <summary>How a caller proved who it is.</summary>
internal enum CallerKind
{
    Token,
    Ticket,
    SessionCookie,
    ApiKey,
    Anonymous,
}

/// <summary>An authenticated caller of the gateway.</summary>
/// <param name="Kind">How it authenticated.</param>
/// <param name="Roles">Its roles (<c>publisher</c>, <c>admin</c>).</param>
/// <param name="UserId">The token's <c>sub</c>; null for API keys and anonymous connections.</param>
/// <param name="Topics">Topics the caller may subscribe to; <c>*</c> allows all.</param>
/// <param name="ExpiresAt">When the credentials expire; streams opened with them end there.</param>
/// <param name="RateKey">The partition of the publish rate limit.</param>
internal sealed record Caller(
    CallerKind Kind,
    string? UserId,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Topics,
    DateTimeOffset? ExpiresAt,
    string RateKey)
{
    public const string PublisherRole = "publisher";
    public const string AdminRole = "admin";

    public bool IsAdmin => Kind == CallerKind.ApiKey || Roles.Contains(AdminRole, StringComparer.Ordinal);

    public bool IsPublisher => IsAdmin || Roles.Contains(PublisherRole, StringComparer.Ordinal);

    public bool MaySubscribe(string topic) =>
        Topics.Contains("*", StringComparer.Ordinal) || Topics.Contains(topic, StringComparer.Ordinal);
}

/// <summary>
/// The outcome of authenticating a request: a caller, or why not. <see cref="Unavailable"/> means the credentials could
/// not be checked right now (a ticket while the cluster's store is unreachable, an identity provider whose keys cannot
/// be read): the client should retry, not give up. <see cref="TokenRefused"/> means a bearer token was presented and
/// refused, which the 401's <c>WWW-Authenticate</c> says (<c>error="invalid_token"</c>, RFC 6750).
/// </summary>
internal readonly record struct AuthResult(Caller? Caller, string? Failure, bool Unavailable = false, bool TokenRefused = false)
{
    public static AuthResult Fail(string why) => new(null, why);

    public static AuthResult Refused(string why) => new(null, why, TokenRefused: true);

    public static AuthResult Ok(Caller caller) => new(caller, null);

    public static AuthResult TryLater(string why) => new(null, why, Unavailable: true);
}
