using Microsoft.AspNetCore.Http;

namespace SseCluster.Gateway.Api;

/// <summary>RFC 7807 answers, with the bad field named in <c>errors</c>.</summary>
internal static class Problems
{
    public static IResult Field(string field, string message, int status = StatusCodes.Status400BadRequest) =>
        Results.Problem(
            statusCode: status,
            title: status == StatusCodes.Status400BadRequest ? "The request is invalid" : null,
            detail: $"{field}: {message}",
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [message] } });

    public static IResult Status(int status, string detail, string? title = null) =>
        Results.Problem(statusCode: status, detail: detail, title: title);

    /// <summary>
    /// 401 with <c>WWW-Authenticate: Bearer</c>; when a token was presented and refused, with <c>error="invalid_token"</c>
    /// and the reason as <c>error_description</c> (RFC 6750 §3).
    /// </summary>
    public static IResult Unauthorized(string detail, bool tokenRefused = false) =>
        new WithHeader(Status(StatusCodes.Status401Unauthorized, detail, "Authentication failed"), "WWW-Authenticate", Auth.BearerChallenge.For(tokenRefused ? detail : null));

    public static IResult Unauthorized(Auth.AuthResult refused) => Unauthorized(refused.Failure ?? "the credentials are invalid", refused.TokenRefused);

    public static IResult Forbidden(string detail) => Status(StatusCodes.Status403Forbidden, detail, "Not allowed");

    /// <summary>503 with <c>Retry-After</c>: nothing was accepted, and trying again shortly is the right thing to do.</summary>
    public static IResult Unavailable(string detail, int retryAfterSeconds = 2) =>
        new WithRetryAfter(Status(StatusCodes.Status503ServiceUnavailable, detail, "The cluster is unavailable"), retryAfterSeconds);

    private sealed class WithRetryAfter(IResult problem, int seconds) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return problem.ExecuteAsync(httpContext);
        }
    }

    private sealed class WithHeader(IResult problem, string name, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers[name] = value;
            return problem.ExecuteAsync(httpContext);
        }
    }
}
