"""The CePO engine: pure async logic behind a small LLM-client protocol.

Nothing in this package imports an HTTP library or a web framework; the server
supplies an :class:`~reasoning.llm.LLMClient` and renders the engine's events.
"""
