"""The GPU rig's arms (bench/accuracy/rig/run_all.sh) are valid before device time is
spent on them: each stage's --arms parses, and each arm's overrides validate against
its preset as the proxy would merge them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bench.accuracy.arms import Arm, parse_arms
from bench.accuracy.records import latest, read_results
from config.presets import load_preset
from reasoning.config import CePOConfig

RUN_ALL = Path(__file__).resolve().parents[1] / "bench" / "accuracy" / "rig" / "run_all.sh"
RESULTS = Path(__file__).resolve().parents[1] / "bench" / "accuracy" / "results"


def _stage_arms() -> list[str]:
    """Every stage's --arms value, expanded by bash from the script's own assignments (those
    between the stages included, in their order)."""
    script = RUN_ALL.read_text()
    start = script.index('REQ="')
    end = script.index("left() {")
    lines: list[str] = []
    for line in script[end:].splitlines():
        stage = re.match(r'stage .*--arms ("[^"]+")', line)
        if stage:
            lines.append(f"printf '%s\\n' {stage.group(1)}")
        elif re.match(r"[A-Z_]+=", line):
            lines.append(line)
    assert any(line.startswith("printf") for line in lines), "no stage found"
    shell = script[start:end] + "\n".join(lines) + "\n"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize("arms", _stage_arms())
def test_every_stage_arm_parses_and_validates(arms: str) -> None:
    for arm in parse_arms(arms):
        if arm.cepo and arm.overrides:
            load_preset(arm.reasoning_effort or "medium").merged(arm.overrides)


def test_the_plain_sample_arm_makes_27_calls_as_stated() -> None:
    (plain,) = [a for arms in _stage_arms()[-1:] for a in parse_arms(arms) if a.name == "medplain"]
    config = load_preset("medium").merged(plain.overrides)
    assert not config.plan_step and config.bestofn_rating_type == "majority"
    # per candidate: planning_n samples, refine, final; no rating calls
    assert config.bestofn_n * (config.planning_n + 2) == 27


def _arm(name: str) -> Arm:
    (arm,) = {
        a.name: a for arms in _stage_arms() for a in parse_arms(arms) if a.name == name
    }.values()
    return arm


def test_the_plain_low_arm_makes_6_calls_as_sc6_at_its_temperature() -> None:
    config = load_preset("low").merged(_arm("lowplain").overrides)
    assert not config.plan_step and not config.direct_on_disagreement
    assert config.bestofn_n == 1 and config.keep_execution_majority
    assert config.bestofn_n * (config.planning_n + 2) == 6  # samples, refine, final
    assert config.execution_temperature == 0.7  # the plain samples' temperature, as sc6's


@pytest.mark.parametrize("name", ["paper", "medhot", "mednow", "medcoolnow", "medblind"])
def test_the_planned_arms_keep_the_plan_shape_whatever_medium_is(name: str) -> None:
    # these arms began when `medium` planned; their remaining items must run what their
    # first ones did, now that `medium` samples without plans
    arm = {a.name: a for arms in _stage_arms() for a in parse_arms(arms)}[name]
    config = load_preset("medium").merged(arm.overrides)
    assert config.plan_step
    assert (config.bestofn_n, config.planning_n, config.planning_m) == (3, 3, 6)
    assert config.bestofn_rating_type != "majority"


def test_the_low_preset_is_the_measured_plain_low_arm() -> None:
    # the preset adopted in session 9 is exactly what the `lowplain` records ran
    low = load_preset("low")
    assert low.merged(_arm("lowplain").overrides) == low
    _, records = read_results(
        RESULTS / "llamacpp-cuda-h200-qwen2.5-coder-1.5b-q4km-letters.jsonl.gz"
    )
    ran = [r.cepo["config"] for r in latest(records).values() if r.arm == "lowplain" and r.cepo]
    assert len(ran) == 100
    preset = low.model_dump()
    for config in ran:
        assert config == {name: preset[name] for name in config}
        # an option added since the run holds its default, so it changes nothing
        for name in preset.keys() - config.keys():
            assert preset[name] == CePOConfig.model_fields[name].default, name


@pytest.mark.parametrize("name", ["lowdirect", "low3"])
def test_the_planned_low_arms_keep_the_plan_shape_whatever_low_is(name: str) -> None:
    config = load_preset("low").merged(_arm(name).overrides)
    assert config.plan_step
    assert (config.planning_temperature, config.execution_temperature) == (0.55, 0.25)
    if name == "lowdirect":  # the planned low of sessions 4-8
        assert (config.bestofn_n, config.planning_n, config.planning_m) == (1, 2, 4)
        assert config.direct_on_disagreement and config.bestofn_rating_type == "absolute"


@pytest.mark.parametrize(
    ("name", "plain", "effort"), [("lowplur", "lowplain", "low"), ("medplur", "medplain", "medium")]
)
def test_the_plurality_arms_are_their_plain_arm_with_the_plurality_rule(
    name: str, plain: str, effort: str
) -> None:
    preset = load_preset(effort)  # type: ignore[arg-type]
    config = preset.merged(_arm(name).overrides)
    assert config.keep_execution_plurality
    assert config.merged({"keep_execution_plurality": False}) == preset.merged(
        _arm(plain).overrides
    )
