// Several scenarios kill silos and time how long publishes stall, on a 2-core machine: one in-process cluster at a
// time, so no other test's silos skew their clocks.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
