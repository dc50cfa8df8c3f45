using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Every limit of streamed answers answers a problem+json that names its setting.</summary>
public sealed class AnswerLimitTests : IAsyncLifetime
{
    private AnswerTestBackend _backend = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _backend = await AnswerTestBackend.StartAsync();
        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Answers:BackendUrl"] = _backend.Url.ToString(),
            ["SseCluster:Answers:BackendSecret"] = AnswerTestBackend.Secret,
            ["SseCluster:Answers:MaxRequestBytes"] = "64",
            ["SseCluster:Answers:MaxChunkBytes"] = "64",
            ["SseCluster:Answers:MaxChunksPerAnswer"] = "3",
            ["SseCluster:Answers:MaxBytesPerAnswer"] = "20",
            ["SseCluster:Answers:MaxOpenAnswersPerUser"] = "2",
            ["SseCluster:Answers:RetentionSeconds"] = "2",
        });
        _backend.Gateway = _gateway.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        foreach (var (client, stream) in _streams)
        {
            await stream.DisposeAsync();
            client.Dispose();
        }

        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task QuestionOverMaxRequestBytes_Answers413NamingTheSetting()
    {
        using var client = _gateway.CreateClient(Tokens.For("big-asker"));
        var response = await client.PostAsync("/sse/answers", new StringContent(JsonSerializer.Serialize(new { mode = "manual", text = new string('x', 100) }), Encoding.UTF8, "application/json"));
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "SseCluster:Answers:MaxRequestBytes");
    }

    [Fact]
    public async Task ChunkOverMaxChunkBytes_Answers413NamingTheSetting()
    {
        var answerId = await OpenAsync("chunky");
        await AssertProblemAsync(await _backend.ChunkAsync(answerId, new string('x', 100)), HttpStatusCode.RequestEntityTooLarge, "SseCluster:Answers:MaxChunkBytes");
    }

    [Fact]
    public async Task ChunkPastMaxChunksPerAnswer_Answers409NamingTheSetting()
    {
        var answerId = await OpenAsync("counter");
        foreach (var text in new[] { "a", "b", "c" })
        {
            Assert.Equal(HttpStatusCode.Accepted, (await _backend.ChunkAsync(answerId, text)).StatusCode);
        }

        await AssertProblemAsync(await _backend.ChunkAsync(answerId, "d"), HttpStatusCode.Conflict, "SseCluster:Answers:MaxChunksPerAnswer");
        Assert.Equal(HttpStatusCode.Accepted, (await _backend.CompleteAsync(answerId)).StatusCode);
    }

    [Fact]
    public async Task ChunksAreBoundedByTheHistory_SoAnAnswerAlwaysFitsItsStream()
    {
        await using var small = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Answers:BackendUrl"] = _backend.Url.ToString(),
            ["SseCluster:Answers:BackendSecret"] = AnswerTestBackend.Secret,
            ["SseCluster:History:MaxEventsPerStream"] = "6", // answer + 4 chunks + done
        });
        _backend.Gateway = small.BaseAddress;
        using var client = small.CreateClient(Tokens.For("historian"));
        var (_, stream) = await AnswerTests.AskAsync(client, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await _backend.ChunkAsync(answerId, $"{i}")).StatusCode);
        }

        await AssertProblemAsync(await _backend.ChunkAsync(answerId, "4"), HttpStatusCode.Conflict, "SseCluster:History:MaxEventsPerStream");
        Assert.Equal(HttpStatusCode.Accepted, (await _backend.CompleteAsync(answerId)).StatusCode);
        await using var replay = await SseStream.OpenAsync(client, $"/sse/answers/{answerId}");
        await replay.WaitForAsync("done");
        Assert.Equal(["answer", "chunk", "chunk", "chunk", "chunk", "done"], replay.Received.Select(e => e.EventType).ToArray());
    }

    [Fact]
    public async Task AnswerTheStoreNoLongerHolds_EndsWithHistoryLostError_InsteadOfWaiting()
    {
        await using var forgetful = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Answers:BackendUrl"] = _backend.Url.ToString(),
            ["SseCluster:Answers:BackendSecret"] = AnswerTestBackend.Secret,
            ["SseCluster:History:MaxAgeSeconds"] = "1", // shorter than the answer's retention
        });
        _backend.Gateway = forgetful.BaseAddress;
        using var client = forgetful.CreateClient(Tokens.For("amnesiac"));
        var (_, stream) = await AnswerTests.AskAsync(client, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        Assert.Equal(HttpStatusCode.Accepted, (await _backend.CompleteAsync(answerId)).StatusCode);
        await stream.WaitForAsync("done");

        await Eventually.TrueAsync(
            async () =>
            {
                var (response, replay) = await SseStream.TryOpenAsync(client, $"/sse/answers/{answerId}");
                if (replay is null)
                {
                    return response.StatusCode == HttpStatusCode.NotFound; // the grain forgot it too: also an end
                }

                await using (replay)
                {
                    var last = await replay.WaitForAsync(e => e.EventType is "done" or "error", "the end of the replay");
                    await replay.Ended.WaitAsync(TimeSpan.FromSeconds(10));
                    return last.EventType == "error" && last.Json.GetProperty("reason").GetString() == "history-lost";
                }
            },
            "a replay of the forgotten answer to end with error history-lost");
    }

    [Fact]
    public async Task ChunkPastMaxBytesPerAnswer_Answers413NamingTheSetting()
    {
        var answerId = await OpenAsync("wordy");
        Assert.Equal(HttpStatusCode.Accepted, (await _backend.ChunkAsync(answerId, "0123456789")).StatusCode); // 12 bytes of JSON
        await AssertProblemAsync(await _backend.ChunkAsync(answerId, "0123456789"), HttpStatusCode.RequestEntityTooLarge, "SseCluster:Answers:MaxBytesPerAnswer");
    }

    [Fact]
    public async Task OpenAnswersPastMaxOpenAnswersPerUser_Answer429UntilOneFinishes()
    {
        using var client = _gateway.CreateClient(Tokens.For("busy"));
        var first = await OpenAsync("busy");
        await OpenAsync("busy");
        var third = await client.PostAsync("/sse/answers", Question());
        await AssertProblemAsync(third, HttpStatusCode.TooManyRequests, "SseCluster:Answers:MaxOpenAnswersPerUser");

        Assert.Equal(HttpStatusCode.Accepted, (await _backend.CompleteAsync(first)).StatusCode);
        await OpenAsync("busy");
    }

    [Fact]
    public async Task FinishedAnswer_AnswersNotFoundOnceItsRetentionPassed()
    {
        using var client = _gateway.CreateClient(Tokens.For("forgetful"));
        var (_, stream) = await AnswerTests.AskAsync(client, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        Assert.Equal(HttpStatusCode.Accepted, (await _backend.CompleteAsync(answerId)).StatusCode);
        await stream.WaitForAsync("done");

        await Eventually.TrueAsync(
            async () => (await SseStream.TryOpenAsync(client, $"/sse/answers/{answerId}")).Response.StatusCode == HttpStatusCode.NotFound,
            "the finished answer to answer 404 after SseCluster:Answers:RetentionSeconds");
    }

    private static StringContent Question() => new(JsonSerializer.Serialize(new { mode = "manual" }), Encoding.UTF8, "application/json");

    private async Task<string> OpenAsync(string user)
    {
        var client = _gateway.CreateClient(Tokens.For(user));
        var (_, stream) = await AnswerTests.AskAsync(client, new { mode = "manual" });
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        _streams.Add((client, stream));
        return answerId;
    }

    private readonly List<(HttpClient, SseStream)> _streams = [];

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string setting)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains(setting, body, StringComparison.Ordinal);
    }
}
