"""The HTTP side of cepo-proxy: OpenAI wire format, SSE, upstream client, auth, metrics."""
