// The server tests measure batching, queueing and cancellation on a 2-core machine: one server at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
