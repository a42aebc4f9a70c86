"""CePO presets: ``low``, ``medium``, ``high`` (chosen by the client's
``reasoning_effort``), ``thinking`` (for upstream models that think on their own) and
``planned`` (``medium`` with the paper's plan step), the last two chosen as the server's
default preset.

Each preset is a YAML file in ``config/presets/`` (package data) holding every
:class:`~reasoning.config.CePOConfig` field. ``medium`` samples without plans (the
measured default); ``planned`` and ``high`` plan and execute as the CePO paper does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal, get_args

import yaml

from reasoning.config import CePOConfig

PresetName = Literal["low", "medium", "high", "thinking", "planned"]
PRESET_NAMES: tuple[str, ...] = get_args(PresetName)
PRESET_DIR = Path(__file__).parent / "presets"


def load_preset(name: PresetName) -> CePOConfig:
    """The validated config of preset ``name`` (read once, then cached).

    Raises :class:`ValueError` for an unknown name and :class:`pydantic.ValidationError`
    when the file holds a bad value (naming the field).
    """
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESET_NAMES)}")
    return _read(name)


@cache
def _read(name: str) -> CePOConfig:
    data = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"preset {name!r} is not a mapping")
    return CePOConfig.model_validate(data)
