// Every test here runs several processes (redis-server, gateways, haproxy) on a small machine: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
