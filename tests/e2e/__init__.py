"""End-to-end checks with real clients (`make e2e-openwebui`), not in the default run."""
