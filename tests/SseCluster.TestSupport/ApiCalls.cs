using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace SseCluster.TestSupport;

/// <summary>Publish and admin calls as a service would make them.</summary>
public static class ApiCalls
{
    public static async Task<JsonElement> PostJsonAsync(this HttpClient client, string path, string json, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"POST {path} answered {(int)response.StatusCode}, expected {(int)expected}: {body}");
        return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
    }

    public static Task<JsonElement> SendAsync(this HttpClient client, string userId, string data, string? eventType = null) =>
        client.PostJsonAsync("/sse/send", $"{{\"userId\":{JsonSerializer.Serialize(userId)},{Type(eventType)}\"data\":{data}}}");

    public static Task<JsonElement> BroadcastAsync(this HttpClient client, string data, string? eventType = null, string[]? onlyUsers = null) =>
        client.PostJsonAsync("/sse/broadcast", $"{{{Type(eventType)}\"data\":{data}{(onlyUsers is null ? "" : $",\"filter\":{{\"userIds\":{JsonSerializer.Serialize(onlyUsers)}}}")}}}");

    public static Task<JsonElement> PublishAsync(this HttpClient client, string topic, string data, string? eventType = null) =>
        client.PostJsonAsync($"/sse/topics/{topic}/publish", $"{{{Type(eventType)}\"data\":{data}}}");

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path} answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static string Type(string? eventType) => eventType is null ? "" : $"\"eventType\":{JsonSerializer.Serialize(eventType)},";
}
