using System.Globalization;
using System.Text.Json;
using SseCluster.Contracts;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// Checks what every client received against what the ledger says was accepted: each accepted send to the client's
/// user and each accepted broadcast exactly once, in stream order, at the position it was stored at; nothing that was
/// never published, nothing of another user. Order is checked within each epoch of a stream (a stream the store lost
/// starts again at 1 under a new epoch). Events of types other than <c>step</c> (sends) and <c>notice</c> (broadcasts)
/// are problems unless allowed by the caller (e.g. <c>reset</c>).
/// </summary>
internal sealed class DeliveryAudit
{
    private DeliveryAudit()
    {
    }

    public List<string> Problems { get; } = [];

    public long Expected { get; private set; }

    public long Delivered { get; private set; }

    public long Lost { get; private set; }

    public long Duplicated { get; private set; }

    public long OutOfOrder { get; private set; }

    public long Stray { get; private set; }

    /// <summary>Events stored although their publish was not answered 202 (allowed: the outcome was unknown).</summary>
    public long Unacknowledged { get; private set; }

    public string Summary =>
        $"deliveries: expected {Expected}, delivered {Delivered}, lost {Lost}, duplicated {Duplicated}, out of order {OutOfOrder}, " +
        $"stray {Stray}, stored-but-unacknowledged {Unacknowledged}";

    /// <summary>How many events a client should hold: its user's accepted sends and every accepted broadcast.</summary>
    public static int ExpectedFor(ResumingClient client, PublishLedger ledger) =>
        ledger.Accepted.Count(p => p.UserId is null || p.UserId == client.UserId);

    public static DeliveryAudit Run(IEnumerable<ResumingClient> clients, PublishLedger ledger, params string[] allowedEventTypes)
    {
        var audit = new DeliveryAudit();
        var accepted = ledger.Accepted;
        var broadcasts = accepted.Where(p => p.UserId is null).Select(p => p.Nonce).ToList();
        var sendsByUser = accepted.Where(p => p.UserId is not null).GroupBy(p => p.UserId!).ToDictionary(g => g.Key, g => g.Select(p => p.Nonce).ToList());
        foreach (var client in clients)
        {
            audit.Check(client, ledger, (sendsByUser.TryGetValue(client.UserId, out var mine) ? mine : []).Concat(broadcasts).ToHashSet(), allowedEventTypes);
        }

        return audit;
    }

    private void Check(ResumingClient client, PublishLedger ledger, HashSet<long> expected, string[] allowedEventTypes)
    {
        Expected += expected.Count;
        var positions = new long[2];
        var epochs = new int[2];
        var seen = new Dictionary<long, int>();
        long lastUserPosition = 0, lastBroadcastPosition = 0;
        int lastUserEpoch = 0, lastBroadcastEpoch = 0;
        foreach (var delivery in client.Deliveries)
        {
            if (delivery.EventType is not ("step" or "notice"))
            {
                if (!allowedEventTypes.Contains(delivery.EventType))
                {
                    Problems.Add($"client {client.Index}: unexpected '{delivery.EventType}' event from {delivery.GatewayId}: {delivery.Data}");
                }

                continue;
            }

            Delivered++;
            var data = JsonDocument.Parse(delivery.Data).RootElement;
            var isSend = delivery.EventType == "step";
            var nonce = data.GetProperty(isSend ? "p" : "b").GetInt64();
            seen[nonce] = seen.GetValueOrDefault(nonce) + 1;
            if (isSend && data.GetProperty("u").GetString() != client.UserId)
            {
                Problems.Add($"client {client.Index} ({client.UserId}): received {data.GetProperty("u").GetString()}'s event {nonce}");
                Stray++;
                continue;
            }

            // The event's id carries its position in the user and the broadcast stream.
            if (ResumePosition.TryParse(delivery.Id, 2, 0, positions, epochs) != ResumePosition.ParseOutcome.Complete)
            {
                Problems.Add($"client {client.Index}: event {nonce} has an unreadable id '{delivery.Id}'");
                continue;
            }

            var position = isSend ? positions[ResumePosition.UserIndex] : positions[ResumePosition.BroadcastIndex];
            var epoch = isSend ? epochs[ResumePosition.UserIndex] : epochs[ResumePosition.BroadcastIndex];
            ref var last = ref isSend ? ref lastUserPosition : ref lastBroadcastPosition;
            ref var lastEpoch = ref isSend ? ref lastUserEpoch : ref lastBroadcastEpoch;
            if (epoch != lastEpoch)
            {
                last = 0; // the stream started again: order is counted within an epoch
                lastEpoch = epoch;
            }

            if (position <= last)
            {
                OutOfOrder++;
                Problems.Add($"client {client.Index}: {(isSend ? "user" : "broadcast")} event {nonce} at position {position} after position {last} (from {delivery.GatewayId})");
            }

            last = Math.Max(last, position);
            if (ledger.Find(nonce) is { } published)
            {
                if (published.Sequence != position)
                {
                    Problems.Add($"client {client.Index}: event {nonce} was stored at {published.Stream}#{published.Sequence} but its id says {position}");
                }
            }
            else if (ledger.Refused.ContainsKey(nonce))
            {
                Unacknowledged++;
            }
            else
            {
                Stray++;
                Problems.Add($"client {client.Index}: event {nonce} was never published");
            }
        }

        var missing = expected.Where(n => !seen.ContainsKey(n)).OrderBy(n => n).ToList();
        var doubles = seen.Where(s => s.Value > 1).ToList();
        Lost += missing.Count;
        Duplicated += doubles.Sum(d => d.Value - 1);
        if (missing.Count > 0)
        {
            Problems.Add($"client {client.Index} ({client.UserId}, sessions {string.Join(" → ", client.Sessions.Select(s => s.GatewayId))}): lost {missing.Count}: " +
                         string.Join(", ", missing.Take(10).Select(n => ledger.Find(n) is { } p ? $"{p.Stream}#{p.Sequence}" : n.ToString(CultureInfo.InvariantCulture))));
        }

        if (doubles.Count > 0)
        {
            Problems.Add($"client {client.Index}: duplicated {string.Join(", ", doubles.Take(10).Select(d => $"{d.Key}×{d.Value}"))}");
        }

        Problems.AddRange(client.Errors.Select(e => $"client {client.Index}: {e}"));
    }
}
