"""Recognising the background tasks chat UIs send to the chat model.

Open WebUI asks the chat's own model for a title, tags, follow-up questions, search or
retrieval queries, an autocompletion, an image prompt and an emoji, each as one request
whose user message is a filled-in task template; LibreChat does the same for titles.
Such a request wants a short formatted answer, not a reasoned one, so a ``cepo-*``
request that is one of them is answered with one plain upstream call
(``CEPO_BYPASS_UI_TASKS``).

:func:`ui_task` matches a few short markers of the templates (their headings and the
JSON key they ask for), not the templates' text, so edited templates that keep their
structure are still recognised. It returns the task's name, or ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The heading every Open WebUI task template starts with.
OPEN_WEBUI_HEADING = "### task:"
#: Open WebUI: the JSON key a template asks for -> the task's name.
OPEN_WEBUI_KEYS = (
    ('"follow_ups"', "follow_ups"),
    ('"title"', "title"),
    ('"tags"', "tags"),
    ('"queries"', "queries"),
    ('"prompt"', "image_prompt"),
    ('"text"', "autocomplete"),
)
#: How many characters of a message are searched for markers.
_SCAN_CHARS = 20_000


def ui_task(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The UI background task ``messages`` ask for (``"title"``, ``"tags"``,
    ``"follow_ups"``, ``"queries"``, ``"autocomplete"``, ``"image_prompt"``, ``"emoji"``,
    ``"task"`` for another Open WebUI task), or ``None`` for an ordinary conversation.

    Only the latest user message is read (the UIs put the whole task there).
    """
    text = _latest_user_text(messages)
    if text is None:
        return None
    lowered = text[:_SCAN_CHARS].lower()
    if lowered.lstrip().startswith(OPEN_WEBUI_HEADING) and (
        "<chat_history>" in lowered or "### output" in lowered or "<text>" in lowered
    ):
        for marker, name in OPEN_WEBUI_KEYS:
            if marker in lowered:
                return name
        return "task"
    if "facial expression" in lowered and "emoji" in lowered and len(lowered) < 2_000:
        return "emoji"
    if "5-word-or-less title" in lowered or (
        "concise title" in lowered and "detected language" in lowered
    ):
        return "title"
    return None


def _latest_user_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        return None
    return None
