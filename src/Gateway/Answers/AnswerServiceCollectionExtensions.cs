using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SseCluster.Gateway.Answers;

internal static class AnswerServiceCollectionExtensions
{
    /// <summary>Registers streamed answers with <c>SseCluster:Answers</c>, validated at start.</summary>
    public static IServiceCollection AddSseClusterAnswers(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AnswerOptions>().Bind(configuration.GetSection(AnswerOptions.Section))
            .Validate(o => o.BackendUrl is null or "" || Uri.TryCreate(o.BackendUrl, UriKind.Absolute, out var u) && u.Scheme is "http" or "https", "SseCluster:Answers:BackendUrl must be an absolute http or https URL")
            .Validate(o => o.BackendSecret is null or "" || o.BackendSecret.Length >= 16, "SseCluster:Answers:BackendSecret must be at least 16 characters")
            .Validate(o => o.TimeoutSeconds is >= 1 and <= 86_400, "SseCluster:Answers:TimeoutSeconds must be between 1 and 86400")
            .Validate(o => o.MaxRequestBytes is >= 2 and <= 16 * 1024 * 1024, "SseCluster:Answers:MaxRequestBytes must be between 2 and 16777216")
            .Validate(o => o.MaxChunkBytes is >= 16 and <= 16 * 1024 * 1024, "SseCluster:Answers:MaxChunkBytes must be between 16 and 16777216")
            .Validate(o => o.MaxChunksPerAnswer >= 1, "SseCluster:Answers:MaxChunksPerAnswer must be at least 1")
            .Validate(o => o.MaxBytesPerAnswer >= 1, "SseCluster:Answers:MaxBytesPerAnswer must be at least 1")
            .Validate(o => o.MaxOpenAnswersPerUser >= 1, "SseCluster:Answers:MaxOpenAnswersPerUser must be at least 1")
            .Validate(o => o.RetentionSeconds is >= 1 and <= 86_400, "SseCluster:Answers:RetentionSeconds must be between 1 and 86400")
            .ValidateOnStart();

        // The answer grains this node's silo holds apply the limits its endpoints report, whoever calls them.
        services.AddOptions<Grains.Answers.AnswerGrainOptions>()
            .Configure<IOptions<AnswerOptions>, IOptions<Grains.HistoryOptions>>((grain, answers, history) => grain.Limits = answers.Value.LimitsFor(history.Value));
        services.AddHttpClient(AnswerBackend.ClientName);
        services.AddSingleton<AnswerSignals>();
        services.AddSingleton<AnswerReader>();
        services.AddSingleton<AnswerBackend>();
        services.AddSingleton<AnswerServices>();
        return services;
    }
}
