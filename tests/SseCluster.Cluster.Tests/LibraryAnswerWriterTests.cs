using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SseCluster.Cluster.Tests.Support;
using SseCluster.Contracts;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests;

/// <summary>
/// A .NET backend writes streamed answers through the publisher library (<see cref="ISseAnswerWriter"/>), no HTTP hop:
/// the reader of <c>POST /sse/answers</c> gets what it wrote, and every refusal of the chunk endpoints is an exception.
/// </summary>
[Collection(RedisCollections.Server)]
public sealed class LibraryAnswerWriterTests(RedisServer redis)
{
    [Fact]
    public async Task QuestionOnA_BackendWritesThroughTheLibrary_ReaderGetsEveryChunkInOrderThenDone()
    {
        LibraryPublisher? library = null;
        var writes = new System.Collections.Concurrent.ConcurrentQueue<Task>();
        await using var backend = await QuestionBackend.StartAsync(answerId =>
        {
            // The application's work: 30 text chunks, one JSON chunk of its own type, then the end.
            writes.Enqueue(Task.Run(async () =>
            {
                for (var i = 0; i < 30; i++)
                {
                    await library!.Answers.AppendAsync(answerId, $"p{i:D2} ");
                }

                await library!.Answers.AppendJsonAsync(answerId, "{\"chunks\":30}", "meta");
                await library.Answers.CompleteAsync(answerId);
            }));
        });
        await using var cluster = await GatewayCluster.StartAsync(redis.ConnectionString, 2, Backed(backend));
        await using var connected = library = await cluster.CreateLibraryPublisherAsync();
        using var client = cluster[0].CreateClient(Tokens.For(ThreeGateways.Unique("reader")));

        await using var stream = await AskAsync(client);
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(10));

        var expected = new List<string> { "answer" };
        expected.AddRange(Enumerable.Range(0, 30).Select(i => $"chunk \"p{i:D2} \""));
        expected.Add("meta {\"chunks\":30}");
        expected.Add("done");
        Assert.Equal(expected, stream.Received.Select(e => e.EventType is "answer" or "done" ? e.EventType : $"{e.EventType} {e.Data}").ToList());
        var sequences = stream.Received.Select(e => e.Id!.Split('-')[0].Aggregate(0L, (n, c) => (n * 36) + (char.IsDigit(c) ? c - '0' : c - 'a' + 10))).ToList(); // base 36
        Assert.Equal(Enumerable.Range(1, 33).Select(i => (long)i), sequences);
    }

    [Fact]
    public async Task EveryRefusal_IsItsOwnException_NamingTheGatewaysSetting_AndNothingRefusedIsStored()
    {
        var questions = Channel.CreateUnbounded<string>();
        await using var backend = await QuestionBackend.StartAsync(answerId => questions.Writer.TryWrite(answerId));
        var settings = Backed(backend);
        settings["SseCluster:Answers:MaxChunksPerAnswer"] = "3";
        settings["SseCluster:Answers:MaxBytesPerAnswer"] = "30";
        settings["SseCluster:Answers:MaxChunkBytes"] = "16";
        await using var cluster = await GatewayCluster.StartAsync(redis.ConnectionString, 1, settings);
        await using var library = await cluster.CreateLibraryPublisherAsync();
        var writer = library.Answers;
        using var client = cluster[0].CreateClient(Tokens.For(ThreeGateways.Unique("reader")));

        await using var stream = await AskAsync(client);
        var answerId = await NextAsync(questions);

        // Arguments break their rules: refused before anything is sent.
        Assert.Contains(Identifiers.AnswerIdRule, (await Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync("no/such", "x"))).Message, StringComparison.Ordinal);
        Assert.Contains("reserved", (await Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync(answerId, "x", "done"))).Message, StringComparison.Ordinal);
        Assert.Contains(Identifiers.EventTypeRule, (await Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync(answerId, "x", "two words"))).Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => writer.AppendJsonAsync(answerId, "{not json"));
        Assert.Contains(Identifiers.AnswerFailReasonRule, (await Assert.ThrowsAsync<ArgumentException>(() => writer.FailAsync(answerId, "line\nbreak"))).Message, StringComparison.Ordinal);

        // The limits are the gateway's (its settings above), whoever writes.
        Assert.Equal(2, await writer.AppendAsync(answerId, "ten-chars!")); // "ten-chars!" with its quotes: 12 bytes
        var tooLarge = await Assert.ThrowsAsync<AnswerLimitException>(() => writer.AppendAsync(answerId, new string('x', 20)));
        Assert.Equal("SseCluster:Answers:MaxChunkBytes", tooLarge.Setting);
        Assert.Equal(answerId, tooLarge.AnswerId);
        Assert.Equal(3, await writer.AppendAsync(answerId, "twelve-chars")); // 26 bytes in all
        var tooMuch = await Assert.ThrowsAsync<AnswerLimitException>(() => writer.AppendAsync(answerId, "abc"));
        Assert.Equal("SseCluster:Answers:MaxBytesPerAnswer", tooMuch.Setting);
        Assert.Contains("SseCluster:Answers:MaxBytesPerAnswer", tooMuch.Message, StringComparison.Ordinal);
        Assert.Equal(4, await writer.AppendAsync(answerId, "a"));
        var tooMany = await Assert.ThrowsAsync<AnswerLimitException>(() => writer.AppendAsync(answerId, ""));
        Assert.Equal("SseCluster:Answers:MaxChunksPerAnswer", tooMany.Setting);

        Assert.Equal(5, await writer.CompleteAsync(answerId));
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(["answer", "\"ten-chars!\"", "\"twelve-chars\"", "\"a\"", "done"], stream.Received.Select(e => e.EventType == "chunk" ? e.Data : e.EventType).ToArray());

        // After the end, and for an answer that does not exist.
        Assert.Equal(answerId, (await Assert.ThrowsAsync<AnswerFinishedException>(() => writer.AppendAsync(answerId, "late"))).AnswerId);
        await Assert.ThrowsAsync<AnswerFinishedException>(() => writer.CompleteAsync(answerId));
        await Assert.ThrowsAsync<AnswerFinishedException>(() => writer.FailAsync(answerId, "too late"));
        var unknown = "never-asked-" + Guid.NewGuid().ToString("N")[..10];
        Assert.Contains(unknown, (await Assert.ThrowsAsync<AnswerNotFoundException>(() => writer.AppendAsync(unknown, "x"))).Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<AnswerNotFoundException>(() => writer.CompleteAsync(unknown));
        await Assert.ThrowsAsync<AnswerNotFoundException>(() => writer.FailAsync(unknown, "nobody asked"));

        // A failure ends the reader's stream with error and the reason.
        await using var second = await AskAsync(client);
        var failedId = await NextAsync(questions);
        await writer.AppendAsync(failedId, "half");
        await writer.FailAsync(failedId, "model-overloaded");
        await second.Ended.WaitAsync(TimeSpan.FromSeconds(15));
        var error = second.Received[^1];
        Assert.Equal("error", error.EventType);
        Assert.Equal("model-overloaded", error.Json.GetProperty("reason").GetString());
    }

    private static Dictionary<string, string?> Backed(WebApplication backend) => new()
    {
        ["SseCluster:Answers:BackendUrl"] = backend.Urls.First() + "/answer",
        ["SseCluster:Answers:BackendSecret"] = "library-answer-secret-0123456789",
    };

    private static async Task<SseStream> AskAsync(HttpClient client)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/sse/answers") { Content = new StringContent("{\"q\":\"hi\"}", Encoding.UTF8, "application/json") };
        var (response, stream) = await SseStream.TrySendAsync(client, request);
        if (stream is null)
        {
            Assert.Fail($"POST /sse/answers answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        await stream.WaitForAsync("answer");
        return stream;
    }

    private static async Task<string> NextAsync(Channel<string> questions)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await questions.Reader.ReadAsync(cts.Token);
    }
}
