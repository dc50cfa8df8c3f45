using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SseCluster.Cluster.Tests.Support;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests;

/// <summary>A streamed answer asked on one node is resumed on another, with chunks written through either.</summary>
public abstract class CrossNodeAnswerTests(string redisConfiguration)
{
    private const string Secret = "cluster-answer-secret-0123456789";

    [Fact]
    public async Task AskOnA_DropMidAnswer_ResumeOnB_GetsTheRestOnce_ThenDone()
    {
        var questions = Channel.CreateUnbounded<string>();
        await using var backend = await QuestionBackend.StartAsync(answerId => questions.Writer.TryWrite(answerId));
        await using var cluster = await GatewayCluster.StartAsync(redisConfiguration, 2, new Dictionary<string, string?>
        {
            ["SseCluster:Answers:BackendUrl"] = backend.Urls.First() + "/answer",
            ["SseCluster:Answers:BackendSecret"] = Secret,
        });
        using var writerOnA = Writer(cluster[0]);
        using var writerOnB = Writer(cluster[1]);
        var token = Tokens.For(ThreeGateways.Unique("asker"));
        using var clientOfA = cluster[0].CreateClient(token);
        using var clientOfB = cluster[1].CreateClient(token);

        var request = new HttpRequestMessage(HttpMethod.Post, "/sse/answers") { Content = new StringContent("{\"q\":\"hi\"}", Encoding.UTF8, "application/json") };
        var (response, onA) = await SseStream.TrySendAsync(clientOfA, request);
        Assert.True(onA is not null, $"POST /sse/answers answered {(int)response.StatusCode}");
        string answerId;
        string lastId;
        await using (onA)
        {
            answerId = (await onA.WaitForAsync("answer")).Json.GetProperty("answerId").GetString()!;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.Equal(answerId, await questions.Reader.ReadAsync(cts.Token));
            await ChunkAsync(writerOnA, answerId, "c1");
            await ChunkAsync(writerOnB, answerId, "c2");
            await onA.WaitForAsync(e => e.Data == "\"c2\"", "c2 on A");
            lastId = onA.LastEventId!;
        }

        await ChunkAsync(writerOnB, answerId, "c3");
        await using var onB = await SseStream.OpenAsync(clientOfB, $"/sse/answers/{answerId}", lastId);
        await onB.WaitForAsync(e => e.Data == "\"c3\"", "c3 replayed on B");
        await ChunkAsync(writerOnA, answerId, "c4");
        await onB.WaitForAsync(e => e.Data == "\"c4\"", "c4 live on B, written through A");
        Assert.Equal(HttpStatusCode.Accepted, (await writerOnA.PostAsync($"/sse/answers/{answerId}/complete", null)).StatusCode);
        var done = await onB.WaitForAsync("done");
        await onB.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["\"c3\"", "\"c4\"", done.Data], onB.Received.Select(e => e.Data).ToArray());

        var (again, _) = await SseStream.TryOpenAsync(clientOfA, $"/sse/answers/{answerId}", done.Id);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
    }

    private static HttpClient Writer(GatewayHost node)
    {
        var client = node.CreateClient();
        client.DefaultRequestHeaders.Add("X-SseCluster-Secret", Secret);
        return client;
    }

    private static async Task ChunkAsync(HttpClient writer, string answerId, string text)
    {
        var response = await writer.PostAsJsonAsync($"/sse/answers/{answerId}/chunks", new { data = text });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"chunk {text}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}

[Collection(RedisCollections.Server)]
public sealed class CrossNodeAnswerOnStandaloneRedis(RedisServer redis) : CrossNodeAnswerTests(redis.ConnectionString);

[Collection(RedisCollections.Cluster)]
public sealed class CrossNodeAnswerOnRedisCluster(RedisClusterServer redis) : CrossNodeAnswerTests(redis.ConnectionString);
