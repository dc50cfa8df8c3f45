using System.Text;

namespace SseCluster.Gateway.Auth;

/// <summary>The <c>WWW-Authenticate</c> value of a 401 (RFC 6750 §3).</summary>
internal static class BearerChallenge
{
    /// <summary>
    /// <c>Bearer</c> when no usable credentials came; <c>Bearer error="invalid_token", error_description="…"</c> when a
    /// token was presented and refused (<paramref name="refusal"/> is why).
    /// </summary>
    public static string For(string? refusal) =>
        refusal is null ? "Bearer" : $"Bearer error=\"invalid_token\", error_description=\"{Quotable(refusal)}\"";

    // RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E in error_description: no quote, no backslash, ASCII only.
    private static string Quotable(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(c is >= ' ' and <= '~' and not '"' and not '\\' ? c : '\'');
        }

        return builder.ToString();
    }
}
