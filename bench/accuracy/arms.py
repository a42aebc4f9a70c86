"""Arms: the ways one question is sent to the proxy, compared on the same items.

* ``baseline`` — pass-through: ``model="<id>"``, nothing else.
* ``low`` / ``medium`` / ``high`` — CePO presets: ``model="cepo-<id>"`` with
  ``reasoning_effort`` set to the arm's name (``medium`` is the paper's configuration).
* overrides — ``NAME=JSON`` (``--arms 'n5={"bestofn_n": 5}'``): ``model="cepo-<id>"``
  with ``extra_body={"cepo": JSON}``; a ``"reasoning_effort"`` key in the JSON picks
  the preset the overrides apply to (otherwise the proxy's default, ``medium``).
* self-consistency — ``sc<k>`` (``sc6``, ``sc27``): ``k`` plain samples of the
  pass-through model at :data:`SC_TEMPERATURE`, whatever ``--temperature`` the other
  arms get; the answer is the majority of the samples' extracted answers (a tie goes to
  the answer that came first). ``k`` matches a preset's upstream calls: 6 for ``low``,
  27 for ``medium``.

The comparison baseline in reports is always the arm named ``baseline``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

BASELINE = "baseline"
PRESETS = ("low", "medium", "high")
#: The sampling temperature of every self-consistency arm.
SC_TEMPERATURE = 0.7
#: Largest k of an ``sc<k>`` arm.
SC_MAX_SAMPLES = 64
#: Each CePO preset arm and the self-consistency arm with as many upstream calls.
MATCHED_SC = {"low": "sc6", "medium": "sc27"}
_NAME = re.compile(r"^[A-Za-z][\w.-]*$")
_SC = re.compile(r"^sc(\d+)$")


class ArmError(ValueError):
    """An arm specification is invalid."""


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm: its name, whether it runs CePO, its effort and its per-request overrides;
    ``samples`` (with ``temperature``) for a self-consistency arm."""

    name: str
    cepo: bool
    reasoning_effort: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    samples: int | None = None
    temperature: float | None = None

    def request_model(self, model: str, prefix: str = "cepo-") -> str:
        """The ``model`` field to send for upstream model ``model``."""
        return f"{prefix}{model}" if self.cepo else model

    def request_options(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create`` beyond model and messages."""
        options: dict[str, Any] = {}
        if self.reasoning_effort is not None:
            options["reasoning_effort"] = self.reasoning_effort
        if self.overrides:
            options["extra_body"] = {"cepo": dict(self.overrides)}
        return options


def _split_specs(text: str) -> list[str]:
    """Split on commas that are not inside a JSON object."""
    specs: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "," and depth == 0:
            specs.append("".join(current))
            current = []
        else:
            current.append(char)
    specs.append("".join(current))
    return [spec.strip() for spec in specs if spec.strip()]


def is_self_consistency(name: str) -> bool:
    """Whether ``name`` is a self-consistency arm (``sc<k>``); no other arm may be named so."""
    return _SC.match(name) is not None


def parse_arm(spec: str) -> Arm:
    """One arm from ``baseline``, a preset name, ``sc<k>``, or ``NAME=JSON``."""
    if spec == BASELINE:
        return Arm(BASELINE, cepo=False)
    sc = _SC.match(spec)
    if sc:
        samples = int(sc.group(1))
        if not 1 <= samples <= SC_MAX_SAMPLES:
            raise ArmError(f"arm {spec!r}: k must be between 1 and {SC_MAX_SAMPLES}")
        return Arm(spec, cepo=False, samples=samples, temperature=SC_TEMPERATURE)
    if spec in PRESETS:
        return Arm(spec, cepo=True, reasoning_effort=spec)
    name, sep, payload = spec.partition("=")
    if not sep:
        raise ArmError(
            f"unknown arm {spec!r}: use baseline, {', '.join(PRESETS)} or NAME=JSON overrides"
        )
    if not _NAME.match(name) or name == BASELINE or name in PRESETS or is_self_consistency(name):
        raise ArmError(f"arm name {name!r} is reserved or not a plain identifier")
    try:
        overrides = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ArmError(f"arm {name!r}: overrides are not JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise ArmError(f"arm {name!r}: overrides must be a JSON object")
    effort = overrides.pop("reasoning_effort", None)
    if effort is not None and effort not in PRESETS:
        raise ArmError(f"arm {name!r}: reasoning_effort must be one of {', '.join(PRESETS)}")
    return Arm(name, cepo=True, reasoning_effort=effort, overrides=overrides)


def parse_arms(text: str) -> list[Arm]:
    """``"baseline,low,n5={...}"`` -> arms in order; names must be unique."""
    arms = [parse_arm(spec) for spec in _split_specs(text)]
    if not arms:
        raise ArmError("no arm given")
    names = [arm.name for arm in arms]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ArmError(f"duplicate arm names: {', '.join(duplicates)}")
    return arms
