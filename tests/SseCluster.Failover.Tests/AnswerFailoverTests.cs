using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// Streamed answers across a gateway crash: questions are asked on gateway A, whose process is then SIGKILLed
/// mid-answer; the readers resume on B with their <c>Last-Event-ID</c>. The answer backend is
/// <c>samples/AnswerBackend</c> as a process, writing through the gateways it is given (A first, then B when A is gone).
/// The answers' grains (first activated through A, so likely on A's silo) come back on a surviving silo from the Redis
/// history, take the rest of the chunks, and still end when their backend goes quiet: their timeout timer, lost with
/// A's silo, is armed again there.
/// </summary>
public sealed class AnswerFailoverTests(ITestOutputHelper output)
{
    private const string Secret = "failover-answer-secret-0123456789";
    private const int Questions = 3;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task GatewayServingAnswers_IsKilledMidAnswer_ReadersResumeOnAnother_AndGetEveryChunkOnceThenDone()
    {
        const int repeat = 4;
        await using var redis = await RedisServer.StartNewAsync();
        var (portA, portB) = (FreePorts.Next(), FreePorts.Next());
        await using var backend = await AnswerBackendProcess.StartAsync(FreePorts.Next(), [Local(portA), Local(portB)], Secret, repeat, chunkDelayMilliseconds: 25);
        var (a, b) = await StartGatewaysAsync(redis, backend, portA, portB, timeoutSeconds: 120);
        await using var gatewayA = a;
        await using var gatewayB = b;

        var reading = await AskOnAsync(gatewayA, chunksBeforeKill: 15);
        gatewayA.Kill();
        var asked = await CutAsync(reading);
        output.WriteLine($"SIGKILL {gatewayA.GatewayId} (pid {gatewayA.Pid}) after {string.Join(", ", asked.Select(q => q.BeforeKill.Count(e => e.EventType == "chunk")))} chunks");

        foreach (var question in asked)
        {
            var events = question.BeforeKill.Concat(await ResumeToEndAsync(gatewayB, question)).ToList();
            var what = $"answer {question.AnswerId} of {question.UserId}: [{string.Join(", ", events.Select(e => $"{e.Id} {e.EventType}"))}]\nbackend:\n{backend.RecentOutput}";
            Assert.True(events[0].EventType == "answer", what);
            Assert.True(events[^1].EventType == "done", what);
            Assert.True(events.Skip(1).SkipLast(1).All(e => e.EventType == "chunk"), what);

            // Nothing lost or repeated: the ids count 1, 2, 3… and the text is the canned answer, whole, `repeat` times.
            Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => Sequence(e.Id!)));
            var text = string.Concat(events.Skip(1).SkipLast(1).Select(e => JsonSerializer.Deserialize<string>(e.Data)));
            var one = text[..(text.Length / repeat)];
            Assert.StartsWith("## Streamed answers", text, StringComparison.Ordinal);
            Assert.Equal(string.Concat(Enumerable.Repeat(one, repeat)), text);
        }

        // The backend's writes crossed the kill: one went to A, failed, and went again to B with its Idempotency-Key.
        output.WriteLine("backend:\n" + backend.RecentOutput);
        Assert.Contains("trying the next gateway", backend.RecentOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswersWhoseBackendGoesQuiet_AndWhoseGatewayIsKilled_StillEndWithTimeout_OnTheSurvivor()
    {
        await using var redis = await RedisServer.StartNewAsync();
        var (portA, portB) = (FreePorts.Next(), FreePorts.Next());

        // One chunk, then the backend waits ten minutes: only the answer's timeout can end it.
        await using var backend = await AnswerBackendProcess.StartAsync(FreePorts.Next(), [Local(portA), Local(portB)], Secret, repeat: 1, chunkDelayMilliseconds: 600_000);
        var (a, b) = await StartGatewaysAsync(redis, backend, portA, portB, timeoutSeconds: 15);
        await using var gatewayA = a;
        await using var gatewayB = b;

        var reading = await AskOnAsync(gatewayA, chunksBeforeKill: 1);
        gatewayA.Kill();
        var asked = await CutAsync(reading);
        foreach (var question in asked)
        {
            var events = question.BeforeKill.Concat(await ResumeToEndAsync(gatewayB, question)).ToList();
            var what = $"answer {question.AnswerId}: [{string.Join(", ", events.Select(e => $"{e.Id} {e.EventType} {e.Data}"))}]";
            Assert.True(events.Select(e => e.EventType).SequenceEqual(["answer", "chunk", "error"]), what);
            Assert.True(events[^1].Json.GetProperty("reason").GetString() == "timeout", what);
            Assert.Equal([1L, 2L, 3L], events.Select(e => Sequence(e.Id!)));
        }
    }

    private sealed record Asked(string UserId, string Token, string AnswerId, List<ReceivedEvent> BeforeKill, string LastEventId);

    private static Uri Local(int port) => new($"http://127.0.0.1:{port}");

    private static async Task<(GatewayProcess A, GatewayProcess B)> StartGatewaysAsync(RedisServer redis, AnswerBackendProcess backend, int portA, int portB, int timeoutSeconds)
    {
        var settings = new Dictionary<string, string>
        {
            ["SseCluster__Answers__BackendUrl"] = backend.QuestionUrl,
            ["SseCluster__Answers__BackendSecret"] = Secret,
            ["SseCluster__Answers__TimeoutSeconds"] = timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var startA = GatewayProcess.StartAsync("gw-1", redis.ConnectionString, settings, portA);
        var startB = GatewayProcess.StartAsync("gw-2", redis.ConnectionString, settings, portB);
        try
        {
            await Task.WhenAll(startA, startB);
        }
        catch
        {
            foreach (var started in new[] { startA, startB }.Where(t => t.IsCompletedSuccessfully))
            {
                await started.Result.DisposeAsync();
            }

            throw;
        }

        return (startA.Result, startB.Result);
    }

    // Each question from its own user, on A; returns once each reader holds at least chunksBeforeKill chunks, with the
    // readers still open.
    private async Task<List<Reading>> AskOnAsync(GatewayProcess gateway, int chunksBeforeKill)
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        var readings = new List<Reading>();
        try
        {
            for (var i = 0; i < Questions; i++)
            {
                var user = $"asker{i}-{run}";
                var token = Tokens.For(user);
                var http = Client(gateway, token);
                var request = new HttpRequestMessage(HttpMethod.Post, "/sse/answers") { Content = new StringContent("{\"q\":\"tell me\"}", Encoding.UTF8, "application/json") };
                var (response, stream) = await SseStream.TrySendAsync(http, request);
                if (stream is null)
                {
                    http.Dispose();
                    Assert.Fail($"POST /sse/answers on {gateway.GatewayId} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }

                var answerId = (await stream.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
                readings.Add(new Reading(user, token, answerId, http, stream));
            }

            foreach (var reading in readings)
            {
                await reading.Stream.CountAsync("chunk", chunksBeforeKill, TimeSpan.FromSeconds(30));
            }

            output.WriteLine($"asked {readings.Count} questions on {gateway.GatewayId}: {string.Join(", ", readings.Select(q => q.AnswerId))}");
            return readings;
        }
        catch
        {
            foreach (var reading in readings)
            {
                await reading.DisposeAsync();
            }

            throw;
        }
    }

    // After the kill: each reader's stream breaks; what it received is what it resumes after.
    private static async Task<List<Asked>> CutAsync(List<Reading> readings)
    {
        var asked = new List<Asked>();
        foreach (var reading in readings)
        {
            await Task.WhenAny(reading.Stream.Ended, Task.Delay(TimeSpan.FromSeconds(10)));
            Assert.True(reading.Stream.Ended.IsCompleted, $"the stream of answer {reading.AnswerId} still runs 10 s after its gateway was killed");
            await reading.DisposeAsync();
            asked.Add(new Asked(reading.UserId, reading.Token, reading.AnswerId, [.. reading.Stream.Received], reading.Stream.LastEventId!));
        }

        return asked;
    }

    private sealed record Reading(string UserId, string Token, string AnswerId, HttpClient Http, SseStream Stream) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Stream.DisposeAsync();
            Http.Dispose();
        }
    }

    // GET /sse/answers/{id} with Last-Event-ID on the survivor until the answer's end arrives. While the dead node's
    // silo is not yet declared dead the gateway may answer 503 or end the stream early; the reader then resumes again,
    // as EventSource does. Anything else is a failure.
    private async Task<List<ReceivedEvent>> ResumeToEndAsync(GatewayProcess gateway, Asked question)
    {
        var events = new List<ReceivedEvent>();
        var lastId = question.LastEventId;
        using var deadline = new CancellationTokenSource(Limit);
        var refusals = new List<string>();
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, $"answer {question.AnswerId} did not end on {gateway.GatewayId} within {Limit.TotalSeconds} s; got [{string.Join(", ", events.Select(e => $"{e.Id} {e.EventType}"))}]; refusals: {string.Join(" | ", refusals)}\n{gateway.RecentOutput}");
            using var http = Client(gateway, question.Token);
            try
            {
                var (response, stream) = await SseStream.TryOpenAsync(http, $"/sse/answers/{question.AnswerId}", lastId, TimeSpan.FromSeconds(30));
                if (stream is null)
                {
                    var refusal = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                    Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"resuming answer {question.AnswerId} on {gateway.GatewayId}: {refusal}");
                    refusals.Add(refusal);
                    await Task.Delay(200);
                    continue;
                }

                await using (stream)
                {
                    await Task.WhenAny(stream.Ended, Task.Delay(Timeout.Infinite, deadline.Token));
                    if (!stream.Ended.IsCompleted)
                    {
                        continue; // the deadline: reported above
                    }

                    events.AddRange(stream.Received);
                    lastId = stream.LastEventId ?? lastId;
                }
            }
            catch (HttpRequestException ex)
            {
                refusals.Add(ex.Message);
                await Task.Delay(200);
                continue;
            }

            if (events.Count > 0 && events[^1].EventType is "done" or "error")
            {
                output.WriteLine($"answer {question.AnswerId}: {events.Count} events after resuming on {gateway.GatewayId}, refusals: {refusals.Count}");
                return events;
            }
        }
    }

    private static HttpClient Client(GatewayProcess gateway, string token)
    {
        var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false })
        {
            BaseAddress = gateway.BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    // An event id is <sequence>-<epoch>, both in base 36.
    private static long Sequence(string id) => id.Split('-')[0].Aggregate(0L, (n, c) => (n * 36) + (char.IsDigit(c) ? c - '0' : c - 'a' + 10));
}
