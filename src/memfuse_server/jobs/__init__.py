"""Background work: the worker that claims, runs, retries and dead-letters jobs."""
