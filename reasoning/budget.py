"""Fitting a step's prompt and token limit into the model's context window.

Token counts are estimated without a tokenizer: ``ceil(characters / 3.5)`` plus 4
tokens per message and 3 for the reply's priming. English averages about 4
characters per token, so the estimate errs high for prose, which is the safe side.

When a prompt plus its step's ``max_tokens`` would not fit, the texts quoted in the
prompt (executions, solutions, answers: the "pieces") are shortened on purpose: each
keeps its opening and, at greater length, its ending (where the conclusion is), and
the cut middle is replaced by a visible marker. Pieces are given equal shares, with
what short pieces leave unused going to the long ones. The prompt is given at least
half the context; the token limit is then clamped to what remains.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reasoning.errors import ContextOverflow
from reasoning.llm import Message

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_OVERHEAD_TOKENS = 3
#: A step is not sent when fewer output tokens than this would remain.
MIN_OUTPUT_TOKENS = 16
#: Share of a shortened piece kept from its beginning; the rest comes from its end.
HEAD_SHARE = 0.25
CUT_MARKER = "\n\n[... {cut} characters cut from the middle here to fit the context ...]\n\n"


def estimate_tokens(messages: Sequence[Message]) -> int:
    """Conservative token estimate of a chat prompt (see the module docstring)."""
    chars = 0
    for message in messages:
        content = message.get("content")
        chars += len(content) if isinstance(content, str) else len(json.dumps(content))
        chars += len(str(message.get("role", "")))
    return (
        math.ceil(chars / CHARS_PER_TOKEN)
        + MESSAGE_OVERHEAD_TOKENS * len(messages)
        + REPLY_OVERHEAD_TOKENS
    )


def shorten_middle(text: str, max_chars: int) -> str:
    """``text`` cut to about ``max_chars``: its head and (longer) tail joined by a
    marker saying how much was cut. Text already short enough is returned as is."""
    if len(text) <= max_chars:
        return text
    keep = max(max_chars - len(CUT_MARKER.format(cut=len(text))), 0)
    head = int(keep * HEAD_SHARE)
    tail = keep - head
    cut = len(text) - head - tail
    return text[:head] + CUT_MARKER.format(cut=cut) + (text[len(text) - tail :] if tail else "")


@dataclass(frozen=True, slots=True)
class Fitted:
    """A prompt that fits: its messages, the (possibly clamped) token limit, and
    whether any piece was shortened."""

    messages: Sequence[Message]
    max_tokens: int
    shortened: bool


def fit_prompt(
    build: Callable[[Sequence[str]], Sequence[Message]],
    pieces: Sequence[str],
    max_tokens: int,
    context_length: int | None,
) -> Fitted:
    """Build the prompt from ``pieces`` so that it and its token limit fit.

    ``build(pieces)`` must return the step's messages. ``context_length`` ``None``
    means unknown: nothing is changed. Raises :class:`ContextOverflow` when even
    shortened pieces leave fewer than :data:`MIN_OUTPUT_TOKENS` for the answer.
    """
    messages = build(pieces)
    if context_length is None:
        return Fitted(messages, max_tokens, False)
    if estimate_tokens(messages) + max_tokens <= context_length:
        return Fitted(messages, max_tokens, False)
    shortened = False
    if pieces:
        prompt_budget = max(context_length - max_tokens, context_length // 2)
        fixed = estimate_tokens(build(["" for _ in pieces]))
        char_budget = int((prompt_budget - fixed) * CHARS_PER_TOKEN)
        allowances = _share(char_budget, [len(piece) for piece in pieces])
        new_pieces = [
            shorten_middle(piece, allowance)
            for piece, allowance in zip(pieces, allowances, strict=True)
        ]
        if new_pieces != list(pieces):
            shortened = True
            messages = build(new_pieces)
    remaining = context_length - estimate_tokens(messages)
    if remaining < MIN_OUTPUT_TOKENS:
        raise ContextOverflow(
            f"the prompt (about {estimate_tokens(messages)} tokens) leaves no room for an "
            f"answer in the model's context of {context_length} tokens"
        )
    return Fitted(messages, min(max_tokens, remaining), shortened)


def _share(budget: int, lengths: Sequence[int]) -> list[int]:
    """Equal character allowances summing to at most ``budget``; pieces shorter than
    their share keep their length and leave the rest to the others."""
    allowances = [0] * len(lengths)
    remaining = max(budget, 0)
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    for position, index in enumerate(order):
        share = remaining // (len(order) - position)
        allowances[index] = min(lengths[index], share)
        remaining -= allowances[index]
    return allowances
