using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Streamed answers: POST a question, read the answer as SSE, resume it, and never hang on a bad backend.</summary>
public sealed class AnswerTests : IAsyncLifetime
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
            ["SseCluster:Answers:TimeoutSeconds"] = "4",
        });
        _backend.Gateway = _gateway.BaseAddress;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task Ask_StreamsAnswerEventThenEveryChunkWithIdsThenDone_AndEnds()
    {
        const string text = "# Title\n\nA *streamed* answer, in chunks.";
        using var client = _gateway.CreateClient(Tokens.For("asker"));
        var (response, stream) = await AskAsync(client, new { mode = "ok", text });
        await using var _ = stream;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);

        var answer = await stream!.WaitForAsync("answer");
        var answerId = answer.Json.GetProperty("answerId").GetString();
        Assert.False(string.IsNullOrEmpty(answerId));
        await stream.WaitForAsync("done");
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));

        var chunks = stream.Received.Where(e => e.EventType == "chunk").ToList();
        Assert.Equal(text, string.Concat(chunks.Select(c => JsonSerializer.Deserialize<string>(c.Data))));
        Assert.Equal(["answer", .. Enumerable.Repeat("chunk", chunks.Count), "done"], stream.Received.Select(e => e.EventType).ToArray());
        Assert.All(stream.Received, e => Assert.False(string.IsNullOrEmpty(e.Id)));
        Assert.Equal(stream.Received.Count, stream.Received.Select(e => e.Id).Distinct().Count());
        var (_, userId, _) = await NextQuestionAsync();
        Assert.Equal("asker", userId);
    }

    [Fact]
    public async Task Resume_AfterTheClientDroppedMidAnswer_ReplaysWhatItMissedOnce_ThenContinuesLiveToDone()
    {
        using var client = _gateway.CreateClient(Tokens.For("resumer"));
        var (_, stream) = await AskAsync(client, new { mode = "manual" });
        string answerId;
        string lastId;
        await using (stream)
        {
            answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
            Assert.Equal(answerId, (await NextQuestionAsync()).AnswerId);
            await ChunkOkAsync(answerId, "c1");
            await ChunkOkAsync(answerId, "c2");
            await stream.WaitForAsync(e => e.EventType == "chunk" && e.Data == "\"c2\"", "c2");
            lastId = stream.LastEventId!;
        }

        await ChunkOkAsync(answerId, "c3");
        await ChunkOkAsync(answerId, "c4");
        await using var resumed = await SseStream.OpenAsync(client, $"/sse/answers/{answerId}", lastId);
        await resumed.WaitForAsync(e => e.Data == "\"c4\"", "c4 replayed");
        await ChunkOkAsync(answerId, "c5");
        await resumed.WaitForAsync(e => e.Data == "\"c5\"", "c5 live");
        (await _backend.CompleteAsync(answerId)).EnsureSuccessStatusCode();
        await resumed.WaitForAsync("done");
        await resumed.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["chunk:\"c3\"", "chunk:\"c4\"", "chunk:\"c5\"", "done"], resumed.Received.Select(e => e.EventType == "done" ? "done" : $"{e.EventType}:{e.Data}").ToArray());
    }

    [Fact]
    public async Task FinishedAnswer_ReplaysFromTheStartToDone_AndTheIdOfDoneAnswers204()
    {
        using var client = _gateway.CreateClient(Tokens.For("replayer"));
        var (_, stream) = await AskAsync(client, new { mode = "ok", text = "0123456789abcde" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        var done = await stream.WaitForAsync("done");

        await using var replay = await SseStream.OpenAsync(client, $"/sse/answers/{answerId}");
        await replay.WaitForAsync("done");
        await replay.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(stream.Received.Select(e => (e.EventType, e.Data, e.Id)), replay.Received.Select(e => (e.EventType, e.Data, e.Id)));

        var (again, none) = await SseStream.TryOpenAsync(client, $"/sse/answers/{answerId}", done.Id);
        Assert.Null(none);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
    }

    [Fact]
    public async Task AnotherUsersAnswer_AndAnUnknownOne_Answer404()
    {
        using var owner = _gateway.CreateClient(Tokens.For("owner"));
        using var other = _gateway.CreateClient(Tokens.For("other"));
        var (_, stream) = await AskAsync(owner, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;

        var (theirs, s1) = await SseStream.TryOpenAsync(other, $"/sse/answers/{answerId}");
        Assert.Null(s1);
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        Assert.Equal("application/problem+json", theirs.Content.Headers.ContentType!.MediaType);
        var (unknown, s2) = await SseStream.TryOpenAsync(owner, "/sse/answers/no-such-answer");
        Assert.Null(s2);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        (await _backend.CompleteAsync(answerId)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task BackendAnswering500_GivesErrorEventAndEnd()
    {
        using var client = _gateway.CreateClient(Tokens.For("failing"));
        var (_, stream) = await AskAsync(client, new { mode = "fail" });
        await using var _ = stream;
        var error = await stream!.WaitForAsync("error");
        Assert.Equal("backend-status-500", error.Json.GetProperty("reason").GetString());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task BackendThatNeverCompletes_GivesTimeoutErrorAndEnd()
    {
        using var client = _gateway.CreateClient(Tokens.For("waiting"));
        var (_, stream) = await AskAsync(client, new { mode = "hang" });
        await using var _ = stream;
        var error = await stream!.WaitForAsync("error", TimeSpan.FromSeconds(20));
        Assert.Equal("timeout", error.Json.GetProperty("reason").GetString());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ChunksAfterComplete_Answer409_AndTheChunkEndpointsNeedTheSecretOrThePublisherRole()
    {
        using var client = _gateway.CreateClient(Tokens.For("closer"));
        var (_, stream) = await AskAsync(client, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;

        var asUser = await client.PostAsJsonAsync($"/sse/answers/{answerId}/chunks", new { data = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, asUser.StatusCode);
        using var wrong = _gateway.CreateClient();
        wrong.DefaultRequestHeaders.Add("X-SseCluster-Secret", "not-the-secret-at-all");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.PostAsJsonAsync($"/sse/answers/{answerId}/chunks", new { data = "x" })).StatusCode);
        using var publisher = _gateway.CreateClient(Tokens.Publisher());
        Assert.Equal(HttpStatusCode.Accepted, (await publisher.PostAsJsonAsync($"/sse/answers/{answerId}/chunks", new { data = "by publisher" })).StatusCode);

        (await _backend.CompleteAsync(answerId)).EnsureSuccessStatusCode();
        await stream.WaitForAsync("done");
        var late = await _backend.ChunkAsync(answerId, "late");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _backend.CompleteAsync(answerId)).StatusCode);
    }

    [Fact]
    public async Task ChunkSentAgainWithItsIdempotencyKey_IsStoredOnce_AnotherKeyIsAnotherChunk_AndABadKeyIs400()
    {
        using var client = _gateway.CreateClient(Tokens.For("repeater"));
        var (_, stream) = await AskAsync(client, new { mode = "manual" });
        await using var _ = stream;
        var answerId = (await stream!.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
        using var backend = _gateway.CreateClient();
        backend.DefaultRequestHeaders.Add("X-SseCluster-Secret", AnswerTestBackend.Secret);

        async Task<HttpResponseMessage> ChunkAsync(string text, string? key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/sse/answers/{answerId}/chunks") { Content = JsonContent.Create(new { data = text }) };
            if (key is not null)
            {
                request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
            }

            return await backend.SendAsync(request);
        }

        async Task<long> SequenceOf(HttpResponseMessage response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode} {body}");
            return JsonDocument.Parse(body).RootElement.GetProperty("sequence").GetInt64();
        }

        var first = await SequenceOf(await ChunkAsync("one", "chunk-0"));
        Assert.Equal(first, await SequenceOf(await ChunkAsync("one", "chunk-0")));
        Assert.Equal(first + 1, await SequenceOf(await ChunkAsync("two", "chunk-1")));
        var bad = await ChunkAsync("three", "tab\tin key");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("Idempotency-Key", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        (await _backend.CompleteAsync(answerId)).EnsureSuccessStatusCode();
        await stream.WaitForAsync("done");
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["\"one\"", "\"two\""], stream.Received.Where(e => e.EventType == "chunk").Select(e => e.Data).ToArray());
    }

    [Fact]
    public async Task BackendThatCannotBeReached_GivesErrorEventAndEnd()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Answers:BackendUrl"] = $"http://127.0.0.1:{FreePorts.Next()}/answer",
        });
        using var client = gateway.CreateClient(Tokens.For("nobody-home"));
        var (_, stream) = await AskAsync(client, new { mode = "ok", text = "never" });
        await using var _ = stream;
        var error = await stream!.WaitForAsync("error");
        Assert.Equal("backend-unreachable", error.Json.GetProperty("reason").GetString());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
    }

    internal static async Task<(HttpResponseMessage Response, SseStream? Stream)> AskAsync(HttpClient client, object question)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/sse/answers")
        {
            Content = new StringContent(JsonSerializer.Serialize(question), Encoding.UTF8, "application/json"),
        };
        var (response, stream) = await SseStream.TrySendAsync(client, request);
        if (stream is null)
        {
            throw new Xunit.Sdk.XunitException($"POST /sse/answers answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return (response, stream);
    }

    private async Task ChunkOkAsync(string answerId, string text)
    {
        var response = await _backend.ChunkAsync(answerId, text);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"chunk '{text}' answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private async Task<(string AnswerId, string UserId, JsonElement Body)> NextQuestionAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await _backend.Questions.Reader.ReadAsync(cts.Token);
    }
}
