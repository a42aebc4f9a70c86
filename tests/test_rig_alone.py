"""bench/accuracy/rig/alone.py times one request per preset on the GPU rig; here it runs
through the proxy against the scripted upstream, so a wrong arm costs no device time."""

from __future__ import annotations

from bench.accuracy.rig import alone
from config.presets import load_preset
from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream


def test_each_arm_runs_its_preset_alone(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    base = make_proxy(upstream)
    lines = alone.measure(7, base_url=f"{base}/v1", model="fake-model")
    by_arm = {line["arm"]: line for line in lines}
    assert list(by_arm) == ["baseline", "low", "medium", "planned", "high"]
    assert by_arm["baseline"]["calls"] == 1 and by_arm["baseline"]["plan_step"] is None
    # the default samples without plans; `planned` is the paper's shape, sent as overrides
    assert by_arm["medium"]["plan_step"] is False
    assert by_arm["planned"]["plan_step"] is True
    assert by_arm["high"]["plan_step"] is True
    planned = load_preset("planned")
    # 3 candidates x (3 plans + 3 executions + refine + final) + 3 ratings, at the least
    assert by_arm["planned"]["calls"] >= planned.bestofn_n * (2 * planned.planning_n + 2) + 3
    assert by_arm["medium"]["calls"] >= 27  # 3 x (7 samples + refine + final)
    assert all(line["item"] == 7 and line["completion_tokens"] for line in lines)
