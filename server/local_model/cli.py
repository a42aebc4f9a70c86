"""``cepo-proxy models pull [KEY]`` and ``cepo-proxy models list``.

The proxy's main CLI dispatches ``models ...`` here with the remaining arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from server.local_model.cache import default_cache_dir, is_pulled, model_path
from server.local_model.errors import LocalModelError
from server.local_model.pull import pull_model
from server.local_model.registry import DEFAULT_MODEL_KEY, MODELS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cepo-proxy models",
        description="Download and list the models of the embedded local upstream "
        "(cached under $CEPO_CACHE_DIR, default the user cache directory).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{pull,list}")
    pull = commands.add_parser("pull", help="download, join and verify a model")
    pull.add_argument(
        "key",
        nargs="?",
        default=DEFAULT_MODEL_KEY,
        choices=list(MODELS),
        help=f"model key (default {DEFAULT_MODEL_KEY})",
    )
    commands.add_parser("list", help="show the known models and which are pulled")
    return parser


def models_command(
    argv: list[str],
    *,
    cache_dir: Path | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run a ``models`` subcommand; return the process exit code (0 ok, 1 failed, 2 usage).

    Errors of the local model layer are printed to stderr as one message, no traceback.
    """
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        if arguments.command == "pull":
            path = pull_model(arguments.key, cache_dir=cache_dir, progress=out)
            out(f"ready: {path}")
        else:
            _list_models(cache_dir, out)
    except LocalModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _list_models(cache_dir: Path | None, out: Callable[[str], None]) -> None:
    out(f"models cache: {(cache_dir or default_cache_dir()) / 'models'}")
    width = max(len(key) for key in MODELS)
    for key, model in MODELS.items():
        state = "pulled" if is_pulled(model, cache_dir) else "not pulled"
        default = " (default)" if key == DEFAULT_MODEL_KEY else ""
        out(
            f"{key:<{width}}  {model.size / 1_000_000:7.1f} MB  {state:<10}  "
            f"{model.description}{default}"
        )
        if state == "pulled":
            out(f"{'':<{width}}  {model_path(model, cache_dir)}")
