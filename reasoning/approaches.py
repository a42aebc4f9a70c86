"""Reading the approaches step's reply into separate approaches.

Approaches are expected as paragraphs opened by ``Approach 1:``, ``Approach 2:``...
(markdown such as ``**Approach 1:**`` or ``### Approach 1 -`` is tolerated). A reply
without such labels is read as a numbered list (``1.`` / ``1)`` at line starts).
Empty items are skipped; nothing here raises on odd text.
"""

from __future__ import annotations

import re

from reasoning.prompts import APPROACH_LABEL

_LABELLED = re.compile(
    rf"^[ \t>#*_-]*{APPROACH_LABEL}\s*\d+\s*[*_]*\s*[:.)\-–—]?[*_]*[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_NUMBERED = re.compile(r"^[ \t*_]*\d+\s*[.)][*_]*[ \t]*", re.MULTILINE)


def parse_approaches(text: str, limit: int) -> list[str]:
    """At most ``limit`` approaches found in ``text``, in order (possibly none)."""
    for pattern in (_LABELLED, _NUMBERED):
        starts = list(pattern.finditer(text))
        if not starts:
            continue
        items = []
        for index, match in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
            body = text[match.end() : end].strip()
            if body:
                items.append(body)
        if items:
            return items[:limit]
    return []
