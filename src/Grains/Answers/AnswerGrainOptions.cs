using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Answers;

/// <summary>
/// The limits this silo's answer grains hold answers to. The gateway sets them from <c>SseCluster:Answers</c> (and
/// <c>SseCluster:History</c>), the configuration its HTTP endpoints enforce; callers of the grain cannot change them.
/// Every node of a cluster should share that configuration: an answer follows the one of the silo holding its grain.
/// </summary>
public sealed class AnswerGrainOptions
{
    public AnswerLimits Limits { get; set; } = AnswerLimits.Default;
}
