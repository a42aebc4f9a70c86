"""The client for OpenAI-compatible upstreams: limits, retries, per-kind fixes."""
