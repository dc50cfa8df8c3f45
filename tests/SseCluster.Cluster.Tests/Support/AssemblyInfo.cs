// The scenarios measure timings (outage, recovery, presence expiry) on a small shared machine and one of them stops
// its Redis: they run one at a time so none of them skews another's clock.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
