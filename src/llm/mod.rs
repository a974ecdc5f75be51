//! The one model client: transport, breaker, failover, cache and cost.
