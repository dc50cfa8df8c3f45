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

    public static IResult Unauthorized(string detail) => Status(StatusCodes.Status401Unauthorized, detail, "Authentication failed");

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
}
