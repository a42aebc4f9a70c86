"""The ``cepo-proxy`` command: ``serve`` the proxy, manage local ``models``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from config.settings import SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "models":
        from server.local_model.cli import models_command

        return models_command(args[1:])
    parser = argparse.ArgumentParser(prog="cepo-proxy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument("--host", help="address to bind (CEPO_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (CEPO_PORT, default 8000)")
    serve.add_argument("--config", help="YAML settings file (CEPO_CONFIG_FILE)")
    commands.add_parser("models", help="list or pull local GGUF models (models --help)")
    parsed = parser.parse_args(args)
    if parsed.command == "serve":
        return serve_command(parsed.host, parsed.port, parsed.config)
    return 2


def serve_command(host: str | None, port: int | None, config_file: str | None) -> int:
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        settings = load_settings(config_file, **overrides)
    except SettingsError as error:
        for line in str(error).splitlines():
            print(f"cepo-proxy: invalid setting: {line}", file=sys.stderr)
        return 2
    import uvicorn

    from server.app import create_app
    from server.event_stream import server_shutdown_timeout
    from server.http_protocol import protocol_class
    from server.logs import configure_logging

    configure_logging(settings)
    if settings.kind.name == "local":
        from server.local_model import LocalModelError, resolve_model_path

        try:
            resolve_model_path(settings.local_model)
        except LocalModelError as error:
            print(f"cepo-proxy: {error}", file=sys.stderr)
            return 2
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=server_shutdown_timeout(settings.shutdown_grace_seconds),
        lifespan="on",
        http=protocol_class(),
        # Nothing here reads the client's address or scheme, so X-Forwarded-* need not be
        # parsed into every request (uvicorn's proxy-headers middleware, on by default).
        proxy_headers=False,
        # asyncio's own loop, even where uvloop is installed: under uvloop a client that
        # leaves together with its request was seen gone only after the first upstream
        # calls had gone out (the reliability suite caught it); uvloop's gain was small.
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; with the default handler
    # that kills the process (exit -15). A stop we were asked for is a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        logging.getLogger("cepo_proxy").error("the proxy did not start")
        return 1
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
