using System.Runtime.CompilerServices;

// The routing tests drive the Redis routing layer's internals (crash simulation, key names).
[assembly: InternalsVisibleTo("SseCluster.Routing.Tests")]
