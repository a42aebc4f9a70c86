"""A scripted OpenAI-compatible upstream for tests and the benchmark.

``FakeUpstream`` (the server), ``Reply`` (a scripted answer), ``Fault`` (an injected failure),
``RecordedRequest`` (what it saw) and the personality table. Run it standalone with
``python -m tests.fake_upstream --help``.
"""

from __future__ import annotations

from tests.fake_upstream.faults import Fault
from tests.fake_upstream.personalities import PERSONALITIES, Personality, PersonalityName
from tests.fake_upstream.recording import RecordedRequest
from tests.fake_upstream.replies import DEFAULT_ANSWER, Reply, Responder, filler_text
from tests.fake_upstream.server import FakeUpstream

__all__ = [
    "DEFAULT_ANSWER",
    "PERSONALITIES",
    "FakeUpstream",
    "Fault",
    "Personality",
    "PersonalityName",
    "RecordedRequest",
    "Reply",
    "Responder",
    "filler_text",
]
