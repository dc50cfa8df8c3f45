using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>One user's open <c>/sse/connect</c> on one node, past its <c>welcome</c>.</summary>
public sealed class UserConnection : IAsyncDisposable
{
    private readonly HttpClient _client;

    private UserConnection(HttpClient client, SseStream stream, ReceivedEvent welcome)
    {
        _client = client;
        Stream = stream;
        ConnectionId = welcome.Json.GetProperty("connectionId").GetString()!;
        GatewayId = welcome.Json.GetProperty("gatewayId").GetString()!;
    }

    public SseStream Stream { get; }

    public string ConnectionId { get; }

    /// <summary>The node that holds the connection, as its welcome says.</summary>
    public string GatewayId { get; }

    public static async Task<UserConnection> OpenAsync(GatewayHost node, string userId, string? topics = null, string? clientId = null, string? lastEventId = null)
    {
        var client = node.CreateClient(Tokens.For(userId));
        try
        {
            var query = new List<string>();
            if (topics is not null)
            {
                query.Add("topics=" + Uri.EscapeDataString(topics));
            }

            if (clientId is not null)
            {
                query.Add("clientId=" + Uri.EscapeDataString(clientId));
            }

            var stream = await SseStream.OpenAsync(client, "/sse/connect" + (query.Count > 0 ? "?" + string.Join("&", query) : ""), lastEventId);
            var welcome = await stream.WaitForAsync("welcome");
            return new UserConnection(client, stream, welcome);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Waits for the server to end the stream (after <c>close</c>, say).</summary>
    public async Task WaitEndedAsync(string what, TimeSpan? timeout = null)
    {
        try
        {
            await Stream.Ended.WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _client.Dispose();
    }
}
