using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace SseCluster.Gateway.Observability;

/// <summary>
/// Renders this host's <c>SseCluster.*</c> instruments and Orleans' own (meter <c>Microsoft.Orleans</c>: grain calls,
/// messaging, membership, activations) in the Prometheus text format, aggregating them with a
/// <see cref="MeterListener"/>. Only meters made by this host's <see cref="IMeterFactory"/> count, so hosts sharing a
/// process do not mix. Instrument names are made valid Prometheus names (<c>orleans-app-requests-latency</c> becomes
/// <c>orleans_app_requests_latency</c>). Must be created at start: measurements made before it listens are not seen.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string OrleansMeter = "Microsoft.Orleans";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _states = new();

    public PrometheusExporter(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if ((instrument.Meter.Name.StartsWith("SseCluster", StringComparison.Ordinal) || instrument.Meter.Name == OrleansMeter)
                && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                _states[instrument] = new InstrumentState(instrument);
                listener.EnableMeasurementEvents(instrument, _states[instrument]);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>((instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    public string Render()
    {
        foreach (var state in _states.Values)
        {
            state.ResetGauge();
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var state in _states.Values.OrderBy(s => s.Instrument.Name, StringComparer.Ordinal))
        {
            state.Render(text);
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private sealed class InstrumentState(Instrument instrument)
    {
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
        private readonly double[]? _bounds = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBounds(instrument.Unit),
            Histogram<long> or Histogram<int> => DefaultBounds(instrument.Unit),
            _ => null,
        };

        public Instrument Instrument { get; } = instrument;

        // Instruments whose value is a level, not a running total: gauges, and up-down counters (which can fall).
        private bool IsGauge => Instrument.GetType().GetGenericTypeDefinition() is var kind
            && (kind == typeof(ObservableGauge<>) || kind == typeof(ObservableUpDownCounter<>) || kind == typeof(UpDownCounter<>) || kind == typeof(Gauge<>));

        // Observed (not recorded) instruments report their whole value at each collection.
        private bool IsObserved => Instrument.IsObservable;

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var series = _series.GetOrAdd(LabelText(tags), static (_, bounds) => new Series(bounds), _bounds);
            lock (series)
            {
                if (IsObserved)
                {
                    series.Sum = value;
                    return;
                }

                series.Sum += value;
                series.Count++;
                if (_bounds is not null)
                {
                    var bucket = Array.BinarySearch(_bounds, value);
                    series.Buckets![bucket < 0 ? ~bucket : bucket]++;
                }
            }
        }

        public void ResetGauge()
        {
            if (IsObserved)
            {
                _series.Clear();
            }
        }

        public void Render(StringBuilder text)
        {
            var name = PrometheusName(Instrument.Name);
            var type = _bounds is not null ? "histogram" : IsGauge ? "gauge" : "counter";
            if (!string.IsNullOrEmpty(Instrument.Description))
            {
                text.Append("# HELP ").Append(name).Append(' ').Append(Instrument.Description).Append('\n');
            }

            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            if (_series.IsEmpty && _bounds is null)
            {
                text.Append(name).Append(" 0\n");
                return;
            }

            foreach (var (labels, series) in _series.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (_bounds is null)
                    {
                        text.Append(name).Append(Braced(labels)).Append(' ').Append(Number(series.Sum)).Append('\n');
                        continue;
                    }

                    long cumulative = 0;
                    for (var i = 0; i < _bounds.Length; i++)
                    {
                        cumulative += series.Buckets![i];
                        text.Append(name).Append("_bucket").Append(Braced(Join(labels, $"le=\"{Number(_bounds[i])}\""))).Append(' ').Append(cumulative).Append('\n');
                    }

                    text.Append(name).Append("_bucket").Append(Braced(Join(labels, "le=\"+Inf\""))).Append(' ').Append(series.Count).Append('\n');
                    text.Append(name).Append("_sum").Append(Braced(labels)).Append(' ').Append(Number(series.Sum)).Append('\n');
                    text.Append(name).Append("_count").Append(Braced(labels)).Append(' ').Append(series.Count).Append('\n');
                }
            }
        }

        private static double[] DefaultBounds(string? unit) => unit == "ms"
            ? [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
            : [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

        private static string PrometheusName(string name)
        {
            var chars = name.ToCharArray();
            for (var i = 0; i < chars.Length; i++)
            {
                var c = chars[i];
                if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or ':') || (i == 0 && char.IsAsciiDigit(c)))
                {
                    chars[i] = '_';
                }
            }

            return new string(chars);
        }

        private static string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.IsEmpty)
            {
                return "";
            }

            var parts = new List<string>(tags.Length);
            foreach (var tag in tags)
            {
                var value = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "";
                parts.Add($"{PrometheusName(tag.Key)}=\"{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"");
            }

            parts.Sort(StringComparer.Ordinal);
            return string.Join(',', parts);
        }

        private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

        private static string Braced(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";

        private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
    }

    private sealed class Series(double[]? bounds)
    {
        public double Sum { get; set; }

        public long Count { get; set; }

        public long[]? Buckets { get; } = bounds is null ? null : new long[bounds.Length + 1];
    }
}
